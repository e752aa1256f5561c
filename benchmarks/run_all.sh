#!/usr/bin/env bash
# Run benchmarks/compare.py under every CPython of .python-version that has
# upstream greenlet installed, building pygreenlet's compiled backend in place
# first, and record the results in benchmarks/results.json (read by the docs'
# performance page).  Usage: bash benchmarks/run_all.sh [compare.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results.json
for v in $(cat .python-version); do
    py="$(pyenv root)/versions/$v/bin/python"
    case "$v" in pypy*) continue ;; esac
    if ! "$py" -c "import greenlet, Cython" 2>/dev/null; then
        echo "== $v: skipped (needs greenlet and Cython: $py -m pip install greenlet cython)"
        continue
    fi
    echo "== $v"
    "$py" setup.py -q build_ext --inplace >/dev/null 2>&1
    PYTHONPATH="$PWD" PYGREENLET_BACKEND=speedups "$py" benchmarks/compare.py --json "$out" "$@"
done
