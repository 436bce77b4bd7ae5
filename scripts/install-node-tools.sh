#!/usr/bin/env bash
# Installs the node packages of the Azure/Sentinel checks (tests/deploy/azure: HashiCorp's HCL parser, Microsoft's
# Kusto language service, a YAML parser), exactly as pinned in its package-lock.json. Node and npm come from
# Debian's packages when the machine has none. Idempotent: does nothing when the installed tree matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/deploy/azure
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-node-tools: installing Debian's nodejs and npm"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
stamp=$dir/node_modules/.etp2s-lock
if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
  echo "install-node-tools: node packages present"
  exit 0
fi
echo "install-node-tools: npm ci in $dir (node $(node --version))"
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
cp "$dir/package-lock.json" "$stamp"
