#!/bin/sh
# Builds {{name}}.wasm with componentize-js, which `npm ci` installs
# (pinned by package-lock.json) into node_modules on the first build.
# COMPONENTIZE_JS may name an installed componentize-js instead.
set -eu
cd "$(dirname "$0")"
cjs=${COMPONENTIZE_JS:-node_modules/.bin/componentize-js}
if [ ! -x "$cjs" ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
# No wasi:http: the host does not provide it.
"$cjs" plugin.js --wit wit --world-name plugin --disable http fetch-event -o {{name}}.wasm
ls -l {{name}}.wasm
