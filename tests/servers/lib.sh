# Shared pieces of the private test servers' scripts
# (tests/dovecot/server.sh, tests/cyrus/server.sh, tests/courier/server.sh).
# Sourced, not run.  The caller sets SCRIPT_NAME before sourcing.

die() {
    echo "${SCRIPT_NAME:-server.sh}: $*" >&2
    exit 1
}
note() { echo "${SCRIPT_NAME:-server.sh}: $*" >&2; }

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
    # The path ends up unquoted in config files and in WASIMAP_STREAM_COMMAND.
    [[ $1 =~ ^[A-Za-z0-9_./+,@=-]+$ ]] ||
        die "DIR must only contain [A-Za-z0-9_./+,@=-]: $1"
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

# Stops the watcher of an earlier start (it must not stop a later server).
stop_watcher() {
    local dir=$1 wpid
    if wpid=$(watcher_pid "$dir"); then
        if [[ $wpid != "$$" && $wpid != "$PPID" ]]; then
            kill -TERM "$wpid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/watcher.pid"
}

# Body of the background watcher: wait for OWNER to die, then run
# `do_stop DIR`.  Exits early if the server was stopped (`server_running DIR`
# fails) or DIR was restarted by someone else.
do_watch() {
    local dir=$1 owner=$2 token=$3
    same_start() {
        [[ -r $dir/start-token && $(<"$dir/start-token") == "$token" ]] 2>/dev/null
    }
    while kill -0 "$owner" 2>/dev/null && alive "$owner"; do
        same_start && server_running "$dir" || exit 0
        sleep 0.5
    done
    if same_start; then
        do_stop "$dir"
    fi
}

# Starts the watcher for OWNER (if given) and records it in DIR/watcher.pid.
start_watcher() {
    local self=$1 dir=$2 owner=$3 token=$4
    [[ -n $owner ]] || return 0
    setsid "$self" __watch "$dir" "$owner" "$token" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watcher.pid"
    disown || true
}

# Stops a master process PID (named WHAT in messages) and the children it
# had: TERM, then KILL for what is still alive after TIMEOUT seconds.
stop_master() {
    local pid=$1 what=$2 timeout=$3 kids k deadline
    kids=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if alive "$pid"; then
        note "$what $pid did not exit in ${timeout}s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # The services notice the master is gone and exit on their own; make sure.
    for k in $kids; do
        while alive "$k" && ((SECONDS < deadline)); do sleep 0.05; done
        alive "$k" && kill -KILL "$k" 2>/dev/null || true
    done
    while alive "$pid" && ((SECONDS < deadline + 2)); do sleep 0.05; done
}

check_owner() {
    local owner=$1
    [[ -z $owner ]] && return 0
    [[ $owner =~ ^[0-9]+$ ]] || die "--owner-pid needs a numeric pid"
    alive "$owner" || die "owner pid $owner is not running"
}

# The unprivileged system user that owns the test mail of every server.
MAIL_USER=wasimap-mail
ensure_mail_user() {
    if ! getent passwd "$MAIL_USER" >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group "$MAIL_USER" >&2 ||
            getent passwd "$MAIL_USER" >/dev/null ||
            die "could not create user $MAIL_USER"
    fi
}

# Distinct free TCP ports on 127.0.0.1 (default two).
pick_ports() {
    python3 - "${1:-2}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
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

# The port sends an untagged OK greeting within 2 s.
imap_greets() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf 'a LOGOUT\r\n' >&3
        [[ $line == "* OK"* ]]
    ) 2>/dev/null
}

# DIR/certs: ca.pem (test CA), server.pem/server.key (EC P-256 leaf signed by
# it, SAN localhost/127.0.0.1) and other-ca.pem (an unrelated CA).
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

# Make sure MAIL_USER can reach DIR (e.g. tempdirs are 0700).
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

# Parses `start DIR [--owner-pid PID]` / `stop DIR` / `status DIR` /
# `__watch DIR OWNER TOKEN` and calls do_start, do_stop, server_running or
# do_watch (defined by the server's script).
server_main() {
    [[ $# -ge 2 ]] || usage
    local cmd=$1 dir owner=""
    dir=$(abs_dir "$2")
    shift 2
    check_dir_chars "$dir"
    [[ $dir != / ]] || die "DIR must not be /"
    case $cmd in
    start)
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
        do_start "$dir" "$owner"
        ;;
    stop)
        [[ $# -eq 0 ]] || usage
        do_stop "$dir"
        ;;
    status)
        [[ $# -eq 0 ]] || usage
        server_running "$dir"
        ;;
    __watch)
        [[ $# -eq 2 ]] || usage
        do_watch "$dir" "$1" "$2"
        ;;
    *) usage ;;
    esac
}
