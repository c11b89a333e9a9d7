#!/usr/bin/env bash
# Installs what the private Cyrus and Courier test servers need, without
# installing either server: `cyrus-imapd` and `courier-imap` conflict with
# `dovecot-imapd` (Debian's imap-server virtual package), so their
# dependencies come from apt and the server packages themselves are fetched
# with `apt-get download` and unpacked with `dpkg -x` under
# target/imap-servers/ROOT.  Idempotent: a second run finds everything and
# prints nothing but the paths.  Needs root for apt.
#
#   tests/servers/install.sh cyrus|courier ...   prints KEY=ROOT lines
#
# CYRUS_ROOT/usr/lib/cyrus/bin has master, imapd, ...; libraries in
# CYRUS_ROOT/usr/lib/x86_64-linux-gnu.  COURIER_ROOT/usr/bin/imapd is
# Courier's imapd (libcourierauth comes from the courier-authlib package).
set -euo pipefail
SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/../.." && pwd)
CACHE=${WASIMAP_SERVER_CACHE:-$REPO/target/imap-servers}
LOCK_FILE=/tmp/wasimap-server-install.lock

say() { echo "install.sh: $*" >&2; }

# Libraries and tools the unpacked servers load, per server.  libclamav
# (cyr_virusscan only) is left out on purpose.
CYRUS_DEPS="libpcre3 libxapian30 libical3 libjansson4 libsasl2-2 libsasl2-modules sasl2-bin libicu72 libsqlite3-0 libpq5 libwrap0 libxml2 libzephyr4 libkrb5-3 libldap-2.5-0 openssl"
CYRUS_PKGS="cyrus-common cyrus-imapd"
# Courier's imapd needs gamin (file-alteration monitor) or it greets with
# `* OK [ALERT] Filesystem notification initialization error`.
COURIER_DEPS="gamin libgamin0 courier-authlib libcourier-unicode4 libidn12 libgdbm6"
COURIER_PKGS="courier-base courier-imap"

missing_debs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
    done
}

apt_install() {
    local missing
    # shellcheck disable=SC2068
    missing=$(missing_debs $@)
    [[ -z $missing ]] && return 0
    [[ $EUID -eq 0 ]] || {
        say "missing packages: $missing; run as root: apt-get install --no-install-recommends $missing"
        exit 1
    }
    say "installing with apt-get: $(echo $missing)"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
}

# Unpacks PKGS (the candidate versions) into CACHE/NAME-VERSIONS; prints it.
unpack() {
    local name=$1 p v versions="" root
    shift
    for p in "$@"; do
        v=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
        if [[ -z $v || $v == "(none)" ]]; then
            [[ $EUID -eq 0 ]] && apt-get update -qq
            v=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
        fi
        [[ -n $v && $v != "(none)" ]] || {
            say "apt knows no package $p"
            exit 1
        }
        versions="$versions-$v"
    done
    root="$CACHE/$name${versions//[^A-Za-z0-9.+-]/_}"
    if [[ ! -e $root/.complete ]]; then
        say "unpacking $* (apt-get download + dpkg -x) into $root"
        rm -rf "$root" "$root.tmp"
        mkdir -p "$root.tmp/debs"
        (cd "$root.tmp/debs" && apt-get download -qq "$@" 2>/dev/null)
        for p in "$root.tmp"/debs/*.deb; do dpkg -x "$p" "$root.tmp"; done
        rm -rf "$root.tmp/debs"
        touch "$root.tmp/.complete"
        mv "$root.tmp" "$root"
    fi
    echo "$root"
}

main() {
    [[ $# -ge 1 ]] || {
        echo "usage: install.sh cyrus|courier ..." >&2
        exit 2
    }
    mkdir -p "$CACHE"
    exec 9>"$LOCK_FILE"
    flock -w 300 9 || {
        say "could not lock $LOCK_FILE"
        exit 1
    }
    local s
    for s in "$@"; do
        case $s in
        cyrus)
            # shellcheck disable=SC2086
            apt_install $CYRUS_DEPS
            # shellcheck disable=SC2086
            echo "CYRUS_ROOT=$(unpack cyrus $CYRUS_PKGS)"
            ;;
        courier)
            # shellcheck disable=SC2086
            apt_install $COURIER_DEPS
            # shellcheck disable=SC2086
            echo "COURIER_ROOT=$(unpack courier $COURIER_PKGS)"
            ;;
        *)
            echo "install.sh: no server $s" >&2
            exit 2
            ;;
        esac
    done
}

main "$@"
