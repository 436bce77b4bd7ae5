#!/bin/sh
# Started by the Azure Functions host as the custom handler (host.json). The shared libraries the binary links
# travel in lib/ next to it; settings (Key Vault references resolved by the platform) arrive as environment.
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/bin/etp2sentinel" function-host
