#!/usr/bin/env bash
# Private Dovecot IMAP server for wasimap's integration tests.
#
#   server.sh start  DIR [--owner-pid PID]   set up DIR, start dovecot, write DIR/env
#   server.sh stop   DIR                     stop the server of DIR (exit 0 if not running)
#   server.sh status DIR                     exit 0 if the server of DIR is running
#
# Only 127.0.0.1 is used, on two free high ports.  The system Dovecot config
# (/etc/dovecot) is never touched.  See README.md next to this file.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
DOVECOT=/usr/sbin/dovecot
IMAP_BIN=/usr/lib/dovecot/imap
MAIL_USER=wasimap-mail
PASSWORD=secret
# Special users listed in the passwd-file (all others: static passdb, password "secret").
QUOTE_USER=quoteuser
QUOTE_PASS='p a"s\s w' # 9 chars: p, space, a, ", s, \, s, space, w
LOCK_FILE=/tmp/wasimap-dovecot-setup.lock
START_TIMEOUT_S=10
STOP_TIMEOUT_S=10

die() {
    echo "server.sh: $*" >&2
    exit 1
}
note() { echo "server.sh: $*" >&2; }

usage() {
    cat >&2 <<'EOF'
usage: server.sh start DIR [--owner-pid PID]
       server.sh stop DIR
       server.sh status DIR
EOF
    exit 2
}

abs_dir() {
    # Absolute, normalised path (DIR itself need not exist yet).
    local d=$1
    [[ -n $d ]] || die "empty DIR"
    [[ $d == /* ]] || d="$PWD/$d"
    realpath -m -- "$d"
}

check_dir_chars() {
    # The path ends up unquoted in dovecot.conf and in WASIMAP_STREAM_COMMAND.
    [[ $1 =~ ^[A-Za-z0-9_./+,@=-]+$ ]] ||
        die "DIR must only contain [A-Za-z0-9_./+,@=-]: $1"
}

# ---------------------------------------------------------------- processes

# PID of the master of DIR if it is running, else nothing (exit 1).
master_pid() {
    local dir=$1 pidf pid exe cmd
    pidf="$dir/run/master.pid"
    [[ -r $pidf ]] || return 1
    pid=$(tr -dc '0-9' <"$pidf" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    [[ $exe == "$DOVECOT" ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *"$dir/dovecot.conf"* ]] || return 1
    echo "$pid"
}

# Processes whose parent is PID (dovecot services of a master).
children_of() {
    pgrep -P "$1" 2>/dev/null || true
}

alive() {
    # Running and not a zombie.
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z && $state != X ]]
}

# PID of the owner watcher of DIR (if running).
watcher_pid() {
    local dir=$1 pid cmd
    [[ -r $dir/watcher.pid ]] || return 1
    pid=$(tr -dc '0-9' <"$dir/watcher.pid" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    alive "$pid" || return 1
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *" __watch $dir "* ]] || return 1
    echo "$pid"
}

do_stop() {
    local dir=$1 pid kids k wpid deadline
    # A watcher from an earlier start must not stop a later server.
    if wpid=$(watcher_pid "$dir"); then
        if [[ $wpid != "$$" && $wpid != "$PPID" ]]; then
            kill -TERM "$wpid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/watcher.pid"

    pid=$(master_pid "$dir") || return 0
    kids=$(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if alive "$pid"; then
        note "dovecot master $pid did not exit in ${STOP_TIMEOUT_S}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # The services notice the master is gone and exit on their own; make sure.
    for k in $kids; do
        while alive "$k" && ((SECONDS < deadline)); do sleep 0.05; done
        alive "$k" && kill -KILL "$k" 2>/dev/null || true
    done
    while alive "$pid" && ((SECONDS < deadline + 2)); do sleep 0.05; done
    rm -f "$dir/run/master.pid"
    return 0
}

# Body of the background watcher: wait for OWNER to die, then stop DIR.
# Exits early if the server was stopped or DIR was restarted by someone else.
do_watch() {
    local dir=$1 owner=$2 token=$3
    same_start() {
        [[ -r $dir/start-token && $(<"$dir/start-token") == "$token" ]] 2>/dev/null
    }
    while kill -0 "$owner" 2>/dev/null && alive "$owner"; do
        same_start && master_pid "$dir" >/dev/null || exit 0
        sleep 0.5
    done
    # Only stop the server we were started for.
    if same_start; then
        do_stop "$dir"
    fi
}

# ---------------------------------------------------------------- setup

ensure_installed() {
    if [[ -x $DOVECOT && -x $IMAP_BIN && -x /usr/bin/doveadm ]] && command -v openssl >/dev/null; then
        return 0
    fi
    note "installing dovecot-imapd and openssl"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show dovecot-imapd >/dev/null 2>&1; then
        apt-get update >&2
    fi
    if ! apt-get install -y --no-install-recommends dovecot-imapd openssl >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends dovecot-imapd openssl >&2
    fi
    # The package may have started the system dovecot (default config,
    # base_dir /run/dovecot).  Stop it; ours all use their own config/base_dir.
    if pgrep -x dovecot >/dev/null 2>&1 && [[ -e /run/dovecot/master.pid ]]; then
        note "stopping the system dovecot started by the package install"
        doveadm stop >/dev/null 2>&1 || dovecot stop >/dev/null 2>&1 || true
    fi
}

ensure_mail_user() {
    if ! getent passwd "$MAIL_USER" >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group "$MAIL_USER" >&2 ||
            getent passwd "$MAIL_USER" >/dev/null ||
            die "could not create user $MAIL_USER"
    fi
}

# Two distinct free TCP ports on 127.0.0.1.
pick_ports() {
    python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The greeting is only sent once the login process is connected to auth.
imap_greets() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf 'a LOGOUT\r\n' >&3
        [[ $line == "* OK"* ]]
    ) 2>/dev/null
}

gen_certs() {
    local c=$1
    mkdir -p "$c"
    (
        cd "$c"
        umask 077
        rm -f ./*.pem ./*.key ./*.csr ./*.srl ./*.ext
        # Test CA
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout ca.key -out ca.pem -days 3650 -sha256 \
            -subj "/O=wasimap tests/CN=wasimap test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        # Unrelated CA the tests use as "untrusted CA"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout other-ca.key -out other-ca.pem -days 3650 -sha256 \
            -subj "/O=wasimap tests/CN=wasimap other (untrusted) CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        # Server leaf signed by the test CA
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -keyout server.key -out server.csr -subj "/O=wasimap tests/CN=localhost" 2>/dev/null
        cat >server.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
            -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
            -extfile server.ext -out server.pem 2>/dev/null
        rm -f server.csr server.ext
        openssl verify -CAfile ca.pem server.pem >/dev/null
        chmod 0644 ca.pem other-ca.pem server.pem
        chmod 0600 ca.key other-ca.key server.key
    )
}

write_conf() {
    local dir=$1 imap_port=$2 imaps_port=$3 uid=$4 gid=$5
    cat >"$dir/dovecot.conf" <<EOF
# Generated by tests/dovecot/server.sh -- private test server, do not edit.
# Everything lives under $dir; only 127.0.0.1 is used.

base_dir = $dir/run
state_dir = $dir/state
instance_name = wasimap-test
listen = 127.0.0.1
protocols = imap

log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log
auth_verbose = yes

default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid

# Tests run many connections in parallel and expect quick failures.
default_process_limit = 512
default_client_limit = 4096
mail_max_userip_connections = 1000
auth_failure_delay = 0
# Trusted clients skip the auth penalty (up to 15 s delay per IP after a failed login).
login_trusted_networks = 127.0.0.0/8

ssl = yes
ssl_cert = <$dir/certs/server.pem
ssl_key = <$dir/certs/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no

auth_mechanisms = plain login cram-md5
auth_cache_size = 0

# Special users (e.g. quoteuser) first; stored as {PLAIN} so CRAM-MD5 works.
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
# Everybody else: any user name, password "$PASSWORD".
passdb {
  driver = static
  args = password=$PASSWORD
  username_filter = $(special_users_filter)
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/mail/%u
}

mail_location = maildir:~/Maildir:LAYOUT=fs
namespace inbox {
  inbox = yes
  separator = /
  prefix =
}

mail_plugins = acl quota
protocol imap {
  mail_plugins = \$mail_plugins imap_acl imap_quota
}
imap_metadata = yes
mail_attribute_dict = file:%h/dovecot-attributes

plugin {
  acl = vfile
  quota = count:User quota
  quota_rule = *:storage=1G
  quota_vsizes = yes
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
EOF
}

special_users_filter() {
    echo "!$QUOTE_USER"
}

write_passwd() {
    local dir=$1
    # Format user:password -- split on ':' only, no escaping; the password
    # may contain anything but ':' and newlines.
    printf '%s:{PLAIN}%s\n' "$QUOTE_USER" "$QUOTE_PASS" >"$dir/passwd"
    chown root:dovecot "$dir/passwd"
    chmod 0640 "$dir/passwd"
}

# Make sure the unprivileged users can reach DIR (e.g. tempdirs are 0700).
ensure_traversable() {
    local target=$1 p="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${target#/}"
    for part in "${parts[@]}"; do
        p="$p/$part"
        if ! setpriv --reuid="$MAIL_USER" --regid="$MAIL_USER" --clear-groups test -x "$p" 2>/dev/null; then
            if [[ $(stat -c %u "$p") == "$(id -u)" ]]; then
                note "adding o+x to $p so $MAIL_USER can reach the test dir"
                chmod o+x "$p"
            else
                die "$p is not searchable by $MAIL_USER"
            fi
        fi
    done
}

env_lines() {
    local dir=$1 imap_port=$2 imaps_port=$3
    cat <<EOF
WASIMAP_IMAP_PORT=$imap_port
WASIMAP_IMAPS_PORT=$imaps_port
WASIMAP_CA=$dir/certs/ca.pem
WASIMAP_OTHER_CA=$dir/certs/other-ca.pem
WASIMAP_DOVECOT_CONF=$dir/dovecot.conf
WASIMAP_DOVECOT_DIR=$dir
WASIMAP_PASSWORD=$PASSWORD
WASIMAP_STREAM_COMMAND=$IMAP_BIN -c $dir/dovecot.conf
EOF
}

do_start() {
    local dir=$1 owner=$2 t0
    t0=$(date +%s%N)
    [[ $EUID -eq 0 ]] || die "must run as root (creates a system user, runs dovecot)"
    if [[ -n $owner ]]; then
        [[ $owner =~ ^[0-9]+$ ]] || die "--owner-pid needs a numeric pid"
        alive "$owner" || die "owner pid $owner is not running"
    fi

    (
        flock -w 300 9 || die "could not lock $LOCK_FILE"
        ensure_installed
        ensure_mail_user
    ) 9>"$LOCK_FILE"

    local uid gid
    uid=$(id -u "$MAIL_USER")
    gid=$(id -g "$MAIL_USER")

    do_stop "$dir"

    mkdir -p "$dir"
    chmod 0755 "$dir"
    ensure_traversable "$dir"
    # Fresh state on every start (mail of earlier runs included).
    rm -rf "$dir/run" "$dir/state" "$dir/mail"
    rm -f "$dir/env" "$dir/dovecot.log" "$dir/dovecot.out"
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    chmod 0755 "$dir/run" "$dir/state"
    chown "$uid:$gid" "$dir/mail"
    chmod 0770 "$dir/mail"
    touch "$dir/dovecot.log"
    chmod 0644 "$dir/dovecot.log"

    gen_certs "$dir/certs"
    write_passwd "$dir"

    local token
    token="$(date +%s%N)-$$"
    echo "$token" >"$dir/start-token"

    local attempt ports imap_port imaps_port ok=""
    for attempt in 1 2 3 4 5; do
        ports=$(pick_ports)
        imap_port=${ports% *}
        imaps_port=${ports#* }
        write_conf "$dir" "$imap_port" "$imaps_port" "$uid" "$gid"
        : >"$dir/dovecot.out"
        # The master keeps stdout/stderr open: never capture them.
        if ! "$DOVECOT" -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.out" 2>&1; then
            if grep -q 'Address already in use' "$dir/dovecot.out" "$dir/dovecot.log" 2>/dev/null; then
                note "port race (attempt $attempt), retrying with other ports"
                do_stop "$dir"
                continue
            fi
            note "dovecot failed to start:"
            tail -n 30 "$dir/dovecot.out" >&2 || true
            tail -n 30 "$dir/dovecot.log" >&2 || true
            do_stop "$dir"
            exit 1
        fi
        local deadline=$((SECONDS + START_TIMEOUT_S))
        while ((SECONDS < deadline)); do
            if port_open "$imaps_port" && imap_greets "$imap_port"; then
                ok=1
                break
            fi
            if ! master_pid "$dir" >/dev/null; then
                break
            fi
            sleep 0.05
        done
        [[ -n $ok ]] && break
        if grep -q 'Address already in use' "$dir/dovecot.out" "$dir/dovecot.log" 2>/dev/null; then
            note "port race (attempt $attempt), retrying with other ports"
            do_stop "$dir"
            continue
        fi
        break
    done
    if [[ -z $ok ]]; then
        note "dovecot did not come up on 127.0.0.1:$imap_port/$imaps_port:"
        tail -n 30 "$dir/dovecot.out" >&2 || true
        tail -n 30 "$dir/dovecot.log" >&2 || true
        do_stop "$dir"
        exit 1
    fi

    if [[ -n $owner ]]; then
        setsid "$SELF" __watch "$dir" "$owner" "$token" </dev/null >/dev/null 2>&1 &
        echo $! >"$dir/watcher.pid"
        disown || true
    fi

    env_lines "$dir" "$imap_port" "$imaps_port" >"$dir/env.tmp"
    mv "$dir/env.tmp" "$dir/env"
    cat "$dir/env"
    note "started in $((($(date +%s%N) - t0) / 1000000)) ms (master pid $(master_pid "$dir" || echo '?'))"
}

# ---------------------------------------------------------------- main

[[ $# -ge 2 ]] || usage
cmd=$1
DIR=$(abs_dir "$2")
shift 2
check_dir_chars "$DIR"
[[ $DIR != / ]] || die "DIR must not be /"

case $cmd in
start)
    owner=""
    while [[ $# -gt 0 ]]; do
        case $1 in
        --owner-pid)
            [[ $# -ge 2 ]] || usage
            owner=$2
            shift 2
            ;;
        --owner-pid=*)
            owner=${1#*=}
            shift
            ;;
        *) usage ;;
        esac
    done
    do_start "$DIR" "$owner"
    ;;
stop)
    [[ $# -eq 0 ]] || usage
    do_stop "$DIR"
    ;;
status)
    [[ $# -eq 0 ]] || usage
    master_pid "$DIR" >/dev/null
    ;;
__watch)
    [[ $# -eq 2 ]] || usage
    do_watch "$DIR" "$1" "$2"
    ;;
*) usage ;;
esac
