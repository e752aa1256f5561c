#!/usr/bin/env bash
# Build the compiled backend with AddressSanitizer and UndefinedBehaviorSanitizer
# in a scratch copy of the tree and run the behaviour suite on it (CPython
# itself is not instrumented, so libasan is preloaded; leak detection is off
# because the interpreter keeps memory until exit on purpose; any UBSan
# report stops the run).  Why the switch needs no fiber annotations:
# docs/internals/hazards.rst (sanitizers).  Cython's free lists are off
# (CYTHON_USE_FREELISTS=0): an object reused from one would hide a use after
# free from AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$W"
cd "$W"
PYGREENLET_REQUIRE_SPEEDUPS=1 \
PYGREENLET_CFLAGS="-DCYTHON_USE_FREELISTS=0 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g" \
PYGREENLET_LDFLAGS="-fsanitize=address,undefined" \
    "$PY" setup.py -q build_ext --inplace >/dev/null
LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PYGREENLET_TEST_BACKENDS=speedups \
    "$PY" -m pytest -q -s -p no:cacheprovider tests "$@"
