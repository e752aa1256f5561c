"""The differential fuzzer (tests/_fuzz.py): a sample of seeded programs on every backend.

Every program runs in a worker subprocess per backend under test; the event
traces must be equal on all of them, and no worker may crash or hang.  With
upstream greenlet among the backends (``PYGREENLET_TEST_BACKENDS=
reference,speedups,upstream``) it is the oracle.  The long run is
``tox -e fuzz`` (tools/fuzz.py).  Set ``PYGREENLET_FUZZ_SAMPLE`` to change the
number of seeds here and ``PYGREENLET_FUZZ_START`` the first one.
"""

from __future__ import annotations

import os

import _fuzz
import pytest

BACKENDS = _fuzz.available_backends()

SAMPLE = int(os.environ.get("PYGREENLET_FUZZ_SAMPLE", 40))
START = int(os.environ.get("PYGREENLET_FUZZ_START", 0))


def report(findings: list[dict]) -> str:
    out = []
    for f in findings[:5]:
        out.append(f"seed {f['id']} on {f['backend']}: {f['kind']}")
        out.append(f.get("diff") or f"{f.get('detail')}\n{f.get('stderr', '')}")
        out.append(f"(details: python tools/fuzz.py --show {f['id']}; --reduce {f['id']})")
    if len(findings) > 5:
        out.append(f"... and {len(findings) - 5} more findings")
    return "\n".join(out)


def test_fuzz_sample():
    """A sample of seeds gives the same trace on every backend, without a crash."""
    backends = BACKENDS
    seeds = range(START, START + SAMPLE)
    programs = [(s, _fuzz.generate(s, sample=True)) for s in seeds]
    backends = _fuzz.order(backends)
    results = {b: _fuzz.run_backend(b, programs) for b in backends}
    findings = _fuzz.compare(results, backends)
    assert not findings, report(findings)
    # the programs did something: switches, kills and tracer events on every backend
    for b in backends:
        text = "\n".join(line for r in results[b].values() for line in r["trace"])
        for what in ("<- ", "run g", "got GreenletExit", "trace switch", "caught"):
            assert what in text, (b, what)


def test_fuzz_generator_is_seeded():
    """A seed always gives the same program, and different seeds different ones."""
    assert _fuzz.generate(7) == _fuzz.generate(7)
    assert _fuzz.generate(7) != _fuzz.generate(8)
    kinds = {op[0] for s in range(50) for op in _fuzz.generate(s)}
    assert kinds >= {"new", "switch", "throw", "drop", "reparent", "gc", "settrace", "thread"}


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_fuzz_crash_is_reported_and_the_run_goes_on(backend_name):
    """A worker that dies is reported with the program's id; the next programs still run."""
    ops = [["new", 0, "plain", "default", "reraise"], ["switch", "s0", "a1", 1]]
    results = _fuzz.run_backend(backend_name, [(1, ops), (2, [["_abort"]]), (3, ops)])
    assert "crash" not in results[1] and "crash" not in results[3], results
    assert results[2]["crash"].startswith("exit "), results[2]
    assert results[1]["trace"] == results[3]["trace"]
    assert "run g1 args=(1,) kwargs={}" in results[1]["trace"]
    findings = _fuzz.compare({"a": results, "b": results}, ["a", "b"])
    assert [(f["id"], f["kind"]) for f in findings] == [(2, "crash"), (2, "crash")]


def test_fuzz_divergence_is_reported():
    """Two traces that differ are a finding, named by where they first differ, with a diff."""
    same = {"trace": ["#0 main switch g1 a1", "#0 main <- 1"], "error": None}
    other = {"trace": ["#0 main switch g1 a1", "#0 main <- 2"], "error": None}
    findings = _fuzz.compare({"a": {5: same}, "b": {5: other}}, ["a", "b"])
    assert len(findings) == 1
    assert findings[0]["id"] == 5 and findings[0]["kind"] == "divergence:<-"
    assert "-#0 main <- 1" in findings[0]["diff"] and "+#0 main <- 2" in findings[0]["diff"]
    assert _fuzz.compare({"a": {5: same}, "b": {5: dict(same)}}, ["a", "b"]) == []


def test_fuzz_trace_has_no_ids():
    """Messages with greenlet reprs are normalised: no addresses, one module name."""
    text = "<pygreenlet.greenlet object at 0x7f00 (otid=0x55aa) current active started main>"
    assert _fuzz._scrub(text) == "<greenlet object at 0x? (otid=0x?) current active started main>"


#: Programs the fuzzer once found diverging, reduced (tools/fuzz.py --reduce).
FOUND = {
    # seed 1008: the killer kept the GreenletExit it threw; interpreted, a
    # switch() frame kept the greenlet switched to (both kept g2 alive).
    "kill-keeps-exit": [
        ["new", 0, "plain_kw", "s1", "continue"],
        ["new", 1, "plain", "default", "continue"],
        ["switch", "s0", "a3", 4],
        ["switch", "s1", "a2kw", 7],
        ["throw", "main", "cls_none_tb", "FzBase", 11],
        ["drop", 0],
        ["new", 1, "none_run", "s2", "reraise"],
        ["cvset", 19],
    ],
    # seed 1008 again: a greenlet that went on after its kill made a child,
    # whose parent it became (a resurrection: the "second-kill" difference,
    # which the driver now keeps out).  Dropped again, the reference backend
    # unwound it, and its switch() turned that into an AttributeError
    # (tests/test_collection.py has the direct test).
    "kill-survivor-makes-a-child": [
        ["new", 1, "plain", "default", "continue"],
        ["switch", "s1", "a2kw", 7],
        ["throw", "main", "cls_none_tb", "FzBase", 11],
        ["new", 3, "plain_kw", "default", "reraise"],
        ["new", 1, "none_run", "s2", "reraise"],
        ["new", 2, "bare_sub", "cur", "reraise"],
        ["throw", "s3", "none", "FzBase", 28],
    ],
}


@pytest.mark.parametrize("key", sorted(FOUND))
def test_fuzz_findings_stay_fixed(key):
    backends = _fuzz.order(BACKENDS)
    programs = [(0, FOUND[key])]
    results = {b: _fuzz.run_backend(b, programs) for b in backends}
    findings = _fuzz.compare(results, backends)
    assert not findings, report(findings)
