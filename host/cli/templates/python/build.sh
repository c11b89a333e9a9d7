#!/bin/sh
# Builds {{name}}.wasm (needs `pip install componentize-py=={{componentize_py}}`).
set -eu
cd "$(dirname "$0")"
componentize-py -d wit -w plugin componentize app -o {{name}}.wasm
ls -l {{name}}.wasm
