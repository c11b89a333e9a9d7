#!/bin/sh
# Smoke test of {{name}}: builds it, checks that wasimap accepts it, and
# runs it against an IMAP server, expecting an INBOX line.
#
#   IMAP_USER=alice IMAP_PASSWORD=secret ./smoke-test.sh [HOST [PORT]]
#
# The password goes to wasimap as a secret (`--secret`): the plugin names
# it and never sees it. WASIMAP may name the wasimap binary to use.
set -eu
cd "$(dirname "$0")"
host=${1:-127.0.0.1}
port=${2:-143}
: "${IMAP_USER:?set IMAP_USER and IMAP_PASSWORD to an account on $host:$port}"
: "${IMAP_PASSWORD:?set IMAP_PASSWORD to the password of $IMAP_USER}"
wasimap=${WASIMAP:-wasimap}

./build.sh
"$wasimap" inspect {{name}}.wasm > /dev/null || {
    echo "smoke test: wasimap inspect refuses {{name}}.wasm (run it to see why)" >&2
    exit 1
}
out=$("$wasimap" run --allow "$host:$port" --secret password=env:IMAP_PASSWORD \
    {{name}}.wasm --host "$host" --port "$port" --user "$IMAP_USER" --password-secret password)
echo "$out"
if ! echo "$out" | grep -q '^INBOX '; then
    echo "smoke test: no INBOX line in the output of {{name}}.wasm" >&2
    exit 1
fi
echo "smoke test: passed"
