#!/usr/bin/env bash
# Builds the Azure Functions package (Flex Consumption, custom handler) of etp2sentinel:
#   host.json, tick/function.json, start.sh, bin/etp2sentinel and lib/ with every shared library the binary
#   links except the C runtime itself (glibc, the dynamic loader), which the Functions image provides.
# Usage: scripts/package-function.sh [output.zip]   (default build/etp2sentinel-function.zip)
# Deploy: terraform (function_package_path) or `az functionapp deployment source config-zip --src <zip>`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/etp2sentinel-function.zip}")
build=${ETP2S_BUILD_DIR:-build}
[ -x "$build/app/etp2sentinel" ] || ./scripts/build.sh release
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/tick"
cp deploy/azure/function/host.json deploy/azure/function/start.sh "$stage/"
cp deploy/azure/function/tick/function.json "$stage/tick/"
cp "$build/app/etp2sentinel" "$stage/bin/"
strip --strip-debug "$stage/bin/etp2sentinel"
# glibc's own libraries must come from the image (they belong together with its loader).
ldd "$build/app/etp2sentinel" | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libresolv.so.*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
python3 - "$stage" "$out" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(out), exist_ok=True)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, _, files in os.walk(stage):
        for f in sorted(files):
            p = os.path.join(d, f)
            info = zipfile.ZipInfo.from_file(p, os.path.relpath(p, stage))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(p, "rb") as fh:
                z.writestr(info, fh.read())
PY
echo "package-function: $out ($(du -h "$out" | cut -f1), $(ls "$stage/lib" | wc -l) bundled libraries)"
