#!/usr/bin/env bash
# .ci/cross.sh ARCH [MODE] [-- PYTEST ARGS]
#
# Build the compiled backend for another CPU and run the test suite under
# qemu-user, with Debian 12's own python3.11 for that CPU:
#
#   ARCH  aarch64 | armhf
#   MODE  for armhf: thumb (Debian's default, Thumb-2 code) or arm (-marm;
#         the tests run on the compiled backend only, see step 6);
#         ignored for aarch64
#
# Debian 12 x86_64 host, run as root, from anywhere.  Everything the run needs
# is installed here (qemu-user, the cross compiler, the target's Python);
# nothing foreign is installed on the host: the target's .debs are unpacked
# into a sysroot with a private apt state, and the host's own Pythons are not
# touched.  Sysroots and venvs are cached in .cross-ARCH/ of the checkout
# (ignored by git).  binfmt_misc is mounted (if it is not) and qemu registered
# for the target, so that tests which start sys.executable work; both are
# undone on exit.  Why each step is done this way: docs/internals/porting.rst.
#
# Environment: HOST_PYTHON  a host CPython 3.11 with pip, Cython and setuptools:
#                           it cythonizes, and fetches wheels for the target
#                           (default python3.11)
#              CROSS_TESTS  what pytest runs (default: tests)
#              CROSS_BACKENDS  PYGREENLET_TEST_BACKENDS for the run
set -euo pipefail
ARCH=${1:?usage: .ci/cross.sh aarch64|armhf [thumb|arm] [-- pytest args]}
shift
MODE=default
if [ $# -gt 0 ] && [ "$1" != "--" ]; then MODE=$1; shift; fi
[ "${1:-}" = "--" ] && shift

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HOST_PYTHON=${HOST_PYTHON:-python3.11}
export DEBIAN_FRONTEND=noninteractive
case $ARCH in
    aarch64) DEB=arm64 TRIPLE=aarch64-linux-gnu QEMU=qemu-aarch64 PLAT=manylinux2014_aarch64 LIBC=arm64
             MODE=aarch64 MODEFLAGS= ;;
    armhf)   DEB=armhf TRIPLE=arm-linux-gnueabihf QEMU=qemu-arm PLAT=manylinux2014_armv7l LIBC=armhf
             case $MODE in
                 default|thumb) MODE=thumb MODEFLAGS=-mthumb ;;
                 arm) MODEFLAGS=-marm ;;
                 *) echo "cross.sh: armhf MODE must be thumb or arm" >&2; exit 2 ;;
             esac ;;
    *) echo "cross.sh: ARCH must be aarch64 or armhf" >&2; exit 2 ;;
esac
W=$ROOT/.cross-$ARCH          # cache: sysroot, apt state, venv (shared by the armhf modes)
S=$W/sysroot V=$W/venv A=$W/apt
SRC=$W/src-$MODE              # this mode's copy of the checkout, built in place
T0=$(date +%s)
say() { echo "== cross $ARCH/$MODE [$(( $(date +%s) - T0 ))s] $*"; }

# Steps 1, 2 and 4 install things: one run at a time (apt and dpkg have
# their own locks, and the armhf modes share a sysroot and venv).
mkdir -p "$ROOT/.cross-state"
exec 8>"$ROOT/.cross-state/setup.lock"
flock 8

# 1. Host tools, amd64 packages only: the emulator, its binfmt entries, the
#    cross compiler and its C library headers (Debian's sysconfig for the
#    target names that compiler as CC).
NEED="qemu-user qemu-user-binfmt gcc-$TRIPLE libc6-dev-$LIBC-cross rsync"
if ! dpkg -s $NEED >/dev/null 2>&1; then
    say "installing $NEED"
    apt-get install -y -qq --no-install-recommends $NEED >/dev/null 2>&1 ||
        { apt-get update -qq; apt-get install -y -qq --no-install-recommends $NEED >/dev/null; }
fi

# 2. The target's python3.11 and its headers, unpacked (never dpkg-installed)
#    into a sysroot, downloaded under a private apt state: installing
#    python3:arm64 on the host would remove host packages, and
#    dpkg --add-architecture armhf breaks later apt-get updates.
if [ ! -x "$S/usr/bin/python3.11" ]; then
    say "unpacking Debian's $DEB python3.11 into $S"
    rm -rf "$S" "$W/debs" "$A"
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$W/debs" "$S"
    touch "$A/status"
    AO=(-o "APT::Architecture=$DEB" -o "APT::Architectures=$DEB"
        -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache"
        -o "Dir::State::status=$A/status" -o Debug::NoLocking=1)
    # a stale index of one suite (armhf's security one, here) must not stop
    # us: the main suite has everything
    apt-get "${AO[@]}" update -qq || true
    PKGS=$(apt-cache "${AO[@]}" depends --recurse --no-recommends --no-suggests \
               --no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends \
               python3.11 libpython3.11-dev |
           grep -E '^[a-z0-9]' | sort -u |
           grep -vxE 'dpkg|tar|install-info|perl.*|libperl.*|mailcap|mime-support|libgdbm-compat4|libc-dev-bin|rpcsvc-proto|.*-dev')
    # shellcheck disable=SC2086
    (cd "$W/debs" && apt-get "${AO[@]}" download -qq -o APT::Sandbox::User=root \
        $PKGS libpython3.11-dev)
    for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$S"; done
    rm -rf "$W/debs"
fi

flock -u 8

# 3. binfmt_misc: the kernel starts target programs through qemu, with the
#    sysroot as their root for libraries (QEMU_LD_PREFIX).  Several runs may
#    share it (tox runs the ARM environments in parallel): under a lock, each
#    run records itself in $B/users, and the last one out undoes what any of
#    them did (mounted binfmt_misc, registered an entry), nothing more.
BINFMT=/proc/sys/fs/binfmt_misc
B=$ROOT/.cross-state/binfmt
mkdir -p "$B/users" "$B/registered"
exec 9>"$B/lock"
binfmt_leave() {
    flock 9
    rm -f "$B/users/$$"
    for u in "$B"/users/*; do         # runs that died without leaving
        [ -e "$u" ] && ! kill -0 "${u##*/}" 2>/dev/null && rm -f "$u"
    done
    if [ -z "$(ls -A "$B/users")" ]; then
        for r in "$B"/registered/*; do
            [ -e "$r" ] || continue
            [ -e "$BINFMT/${r##*/}" ] && echo -1 > "$BINFMT/${r##*/}"
            rm -f "$r"
        done
        if [ -e "$B/mounted" ]; then umount "$BINFMT" && rm -f "$B/mounted"; fi
    fi
    flock -u 9
}
trap binfmt_leave EXIT
trap 'exit 130' INT TERM
flock 9
touch "$B/users/$$"
if [ ! -e "$BINFMT/register" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT"
    touch "$B/mounted"
fi
if [ ! -e "$BINFMT/$QEMU" ]; then
    # qemu-user-binfmt's entry (ELF magic of the target, qemu as interpreter,
    # argv[0] preserved); QEMU_LD_PREFIX reaches qemu through the environment
    grep -v '^#' "/usr/lib/binfmt.d/$QEMU.conf" > "$BINFMT/register"
    touch "$B/registered/$QEMU"
fi
flock -u 9
export QEMU_LD_PREFIX=$S

flock 8
# 4. The target venv; its packages are wheels for the target fetched by the
#    HOST pip (much faster than pip under emulation), and every .pyc is
#    compiled natively.
if [ ! -x "$V/bin/python" ]; then
    say "making the $DEB venv"
    "$QEMU" -L "$S" "$S/usr/bin/python3.11" -m venv --without-pip "$V"
fi
SITE=$V/lib/python3.11/site-packages
if [ ! -e "$SITE/.pygreenlet-deps" ]; then
    say "installing pytest, setuptools, Cython into the venv (host pip, $PLAT wheels)"
    "$HOST_PYTHON" -m pip install -q --disable-pip-version-check --target "$SITE" \
        --platform "$PLAT" --python-version 3.11 --implementation cp --abi cp311 \
        --only-binary=:all: --upgrade 'pytest>=7' 'setuptools>=61' 'cython>=3.0,<3.4'
    "$HOST_PYTHON" -m compileall -q -j0 "$S/usr/lib/python3.11" "$SITE" >/dev/null || true
    touch "$SITE/.pygreenlet-deps"
fi
flock -u 8

# 5. This mode's copy of the checkout (tracked and new files), cythonized on
#    the host, then compiled by the emulated Python, which runs the host's
#    cross compiler natively.  -I/-idirafter: the target's Python headers and
#    pyconfig.h come from the sysroot, the C library's from the cross gcc.
say "copying the checkout, cythonizing on the host"
mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    rsync -a --delete --from0 --files-from=- "$ROOT/" "$SRC/"
(cd "$SRC" && "$HOST_PYTHON" setup.py -q --version >/dev/null)
# byte-compiled natively too: every interpreter the tests start imports them
"$HOST_PYTHON" -m compileall -q "$SRC/pygreenlet" "$SRC/tests" >/dev/null
say "building for $TRIPLE ${MODEFLAGS:-(default code)}"
(cd "$SRC" && rm -rf build pygreenlet/*.so &&
    CFLAGS="-I$S/usr/include/python3.11 -idirafter $S/usr/include" \
    PYGREENLET_CFLAGS="$MODEFLAGS -Werror" PYGREENLET_REQUIRE_SPEEDUPS=1 \
    "$V/bin/python" setup.py -q build_ext --inplace)

# 6. The suite, under qemu.
say "testing"
# The compiled backend only: the reference backend is pure Python over the
# interpreter's threads, the same on every architecture, and the x86_64 envs
# test it; under qemu its thread hand-offs are so slow that its stress tests
# (20,000 switches under a 1 ms SIGALRM, hot loops) ran past their timeouts
# and the ARM step took 20 minutes.  CROSS_BACKENDS=reference,speedups runs both.
BACKENDS=speedups
export PYGREENLET_TEST_BACKENDS=${CROSS_BACKENDS:-$BACKENDS} PYGREENLET_REQUIRE_SPEEDUPS=1
export PYTHONFAULTHANDLER=1
# tests that measure the resident size skip it: under qemu it is the emulator's
export PYGREENLET_EMULATOR=$QEMU
# tests/capi compiles test extensions with the same mode
export CFLAGS="-I$S/usr/include/python3.11 -idirafter $S/usr/include $MODEFLAGS"
cd "$SRC"
"$V/bin/python" -c "import platform, pygreenlet; assert pygreenlet.BACKEND == 'speedups', pygreenlet.BACKEND; print('pygreenlet on', platform.machine(), 'backend', pygreenlet.BACKEND)"
# shellcheck disable=SC2086
"$V/bin/python" -m pytest -q -p no:cacheprovider ${CROSS_TESTS:-tests} "$@"
say "passed"
