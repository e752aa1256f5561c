#!/usr/bin/env bash
# CPython 3.14 legs of CI: the py314-speedups and py314-reference tox
# environments, and the speedups suite under 3.14's debug build (-X dev).
#
# Debian 12 has no 3.14; Debian's unstable suite (sid) has python3.14, its
# headers and venv, and python3.14-dbg (assertions on). Their binaries need
# sid's C library, so they run in a sid chroot that this script builds with
# mmdebstrap (as root) and keeps under .cache/ (ignored by git): a second run
# reuses it. The checkout is copied into the chroot for each run, so nothing
# built there lands in the source tree. Everything mounted here is unmounted
# on exit; nothing started here outlives the script.
#
#   .ci/py314.sh            build the chroot if needed, then run the three environments
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SRC=$PWD
CACHE=$SRC/.cache
ROOT=$CACHE/sid314
# What the chroot holds, recorded in it: a change makes the next run rebuild it.
PACKAGES=python3.14,python3.14-dev,python3.14-venv,python3.14-dbg,gcc,libc6-dev
STAMP="packages=$PACKAGES venv=tox>=4.11"
if [ "$(id -u)" != 0 ]; then
    echo "py314.sh: building and entering the chroot needs root" >&2
    exit 1
fi
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

MOUNTED=()
cleanup() {
    local i
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do
        umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" || true
    done
}
trap cleanup EXIT

# Commands in the chroot run as background children that the script waits
# for, so that a signal to the script reaches it at once: it stops the child,
# waits for it, and exits, and the EXIT trap unmounts.
CHILD=
in_chroot() {  # in_chroot ROOT COMMAND...
    local rc=0
    chroot "$@" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    return $rc
}
on_signal() {
    if [ -n "$CHILD" ]; then
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit 130
}
trap on_signal INT TERM HUP

mount_bind() {  # mount_bind HOSTDIR CHROOTDIR
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTED+=("$2")
    mount --make-private "$2"   # nothing mounted below it reaches the host's tree
}

main() {
mkdir -p "$CACHE"
# one run at a time per checkout: a second would rebuild or copy under the first
exec 9>"$CACHE/py314.lock"
flock 9

if [ "$(cat "$ROOT/.pyg-stamp" 2>/dev/null)" != "$STAMP" ]; then
    echo "== py314: building the Debian sid chroot in $ROOT"
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
    fi
    rm -rf "$ROOT" "$ROOT.new"
    # The mirror's sid index is a frozen snapshot whose Release file has
    # expired: apt must not refuse it for that.
    mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="$PACKAGES" sid "$ROOT.new"
    # pip inside goes through this machine's network: same resolver, same CA bundle.
    cp /etc/resolv.conf "$ROOT.new/etc/resolv.conf"
    mkdir -p "$ROOT.new/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT.new/etc/ssl/certs/"
    mount_bind /proc "$ROOT.new/proc"
    mount_bind /dev "$ROOT.new/dev"
    in_chroot "$ROOT.new" python3.14 -m venv /tox
    in_chroot "$ROOT.new" /tox/bin/pip install -q "tox>=4.11"
    cleanup; MOUNTED=()
    mv "$ROOT.new" "$ROOT"
    echo "$STAMP" > "$ROOT/.pyg-stamp"
    echo "== py314: chroot ready ($(elapsed))"
else
    echo "== py314: reusing the chroot in $ROOT"
fi

mount_bind /proc "$ROOT/proc"
mount_bind /dev "$ROOT/dev"

# A fresh copy of the checkout (tracked and untracked files, not ignored ones).
rm -rf "$ROOT/src"
mkdir -p "$ROOT/src"
git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar -c --null -T - -f - | tar -x -C "$ROOT/src" -f -

ENVS=py314-speedups,py314-reference,py314debug-speedups
# tox inside the chroot: its work dir stays there (cached with it), and its
# envlist is only these (the interpreters of the others are not in the chroot)
tox314() {
    in_chroot "$ROOT" env -C /src HOME=/root /tox/bin/tox "$@" --workdir /toxwork -x "tox.env_list=$ENVS" -e "$ENVS"
}
status=0
# Build and install each environment's package one at a time, then test two
# environments at a time (the machine has two cores).
echo "== py314: tox: build and install ($(elapsed))"
tox314 run --notest || status=$?
if [ $status = 0 ]; then
    echo "== py314: tox: test ($(elapsed))"
    tox314 run-parallel --parallel 2 --parallel-no-spinner --parallel-live --skip-pkg-install \
        || status=$?
fi
echo "== py314: done in $(elapsed), exit status $status"
return $status
}

# (all in a function: bash reads it whole before running it, so editing this
# file during a run cannot change what the run does)
main "$@"
