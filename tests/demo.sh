#!/usr/bin/env bash
# The demo behind `just demo`: a private Dovecot on 127.0.0.1, a mailbox
# seeded through the shell plugin, and the triage plugin run against it.
# Usage: tests/demo.sh WASIMAP_BINARY PLUGIN_DIR
set -euo pipefail

wasimap=$1
plugins=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/target/demo-dovecot"

"$root/tests/dovecot/server.sh" start "$dir" > /dev/null
trap '"$root/tests/dovecot/server.sh" stop "$dir" > /dev/null' EXIT
port=$(sed -n 's/^WASIMAP_IMAP_PORT=//p' "$dir/env")
password=$(sed -n 's/^WASIMAP_PASSWORD=//p' "$dir/env")
user=demo

message() { # from subject body
    printf '{"b": "From: %s\\r\\nTo: demo@example.org\\r\\nSubject: %s\\r\\n\\r\\n%s\\r\\n"}' "$1" "$2" "$3"
}

echo "== seeding $user's mailboxes on 127.0.0.1:$port (shell plugin)"
{
    echo "[\"IMAP4\", \"127.0.0.1\", $port]"
    echo "[\"login\", \"$user\", \"$password\"]"
    echo '["create", "Important"]'
    echo '["create", "Lists/rust-users"]'
    echo "[\"append\", \"INBOX\", null, null, $(message boss@example.org 'Quarterly numbers' 'Please review.')]"
    echo "[\"append\", \"INBOX\", null, null, $(message news@example.org 'Weekly digest' 'Nothing urgent.')]"
    echo "[\"append\", \"INBOX\", \"\\\\Seen\", null, $(message boss@example.org 'Old thread' 'Already read.')]"
    echo "[\"append\", \"INBOX\", null, null, $(message boss@example.org 'Offsite agenda' 'See attached.')]"
    echo "[\"append\", \"Lists/rust-users\", null, null, $(message list@example.org 'Release notes' 'New version.')]"
    echo '["logout"]'
} | "$wasimap" run --allow "127.0.0.1:$port" "$plugins/shell.wasm" > /dev/null

echo "== triage: move unseen mail from boss@example.org to Important"
"$wasimap" run --allow "127.0.0.1:$port" "$plugins/triage.wasm" \
    --host 127.0.0.1 --port "$port" --user "$user" --password "$password" \
    --from boss@example.org --move-to Important
