"""Stack slicing under load: deep C recursion, large saved stacks, frame walks, _stack_saved.

The compiled backend keeps every greenlet of a thread on the thread's own C
stack and copies slices to the heap on each switch (docs/internals/stack_slicing.rst);
these tests make those slices large and interleaved.  Scripts that could crash
the interpreter run in a subprocess and their exit status is checked.
"""

from __future__ import annotations


def _check(proc, expected_stdout: str) -> None:
    """The script exited with 0, printed exactly *expected_stdout* and nothing on stderr."""
    # a string, not a tuple: pytest shows a string message whole
    assert proc.returncode == 0, "exit status %d\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode,
        proc.stdout[-2000:],
        proc.stderr[-6000:],
    )
    assert proc.stderr == "", proc.stderr[-4000:]
    assert proc.stdout == expected_stdout, proc.stdout[-4000:]


# A recursive function whose every level is a C-level callback (map, sorted's
# key, functools.reduce), that switches to main at the bottom and again on the
# way back out of each level: every switch happens inside nested C frames.
NESTED = """
import functools

def level(tag, n, main):
    if n == 0:
        return [main.switch((tag, 0))]
    kind = n % 3
    if kind == 0:
        out = list(map(lambda x: level(tag, n - 1, main) if x == 1 else x * 10, [0, 1, 2]))
        assert out[0] == 0 and out[2] == 20, out
        v = out[1]
    elif kind == 1:
        box = []

        def key(x):
            if x == "k":
                box.append(level(tag, n - 1, main))
                return 1
            return 0 if x == "a" else 2

        assert sorted(["z", "k", "a"], key=key) == ["a", "k", "z"]
        v = box[0]
    else:
        v = functools.reduce(
            lambda acc, x: level(tag, n - 1, main) if x == 1 else acc, [0, 1, 2], None
        )
    return v + [main.switch((tag, n))]
"""


def test_R46_deep_c_recursion_across_interleaved_switches(run_script):
    proc = run_script(
        NESTED
        + """
import random
rng = random.Random(1234)
main = getcurrent()
depths = [5, 17, 30, 11, 24, 2, 30, 8]
gs = {}
for tag, depth in enumerate(depths):
    gs[tag] = greenlet(level)
pending = {tag: None for tag in gs}      # what each greenlet said last (None: not started)
sent = {tag: [] for tag in gs}
results = {}
switches = 0
while pending:
    tag = rng.choice(sorted(pending))
    g = gs[tag]
    if pending[tag] is None:
        said = g.switch(tag, depths[tag], main)
    else:
        reply = ("r", tag, pending[tag][1], len(sent[tag]))
        sent[tag].append(reply)
        said = g.switch(reply)
    switches += 1
    if g.dead:
        results[tag] = said
        del pending[tag]
    else:
        # a greenlet reports its levels bottom-up: 0, 1, ..., depth
        expected_level = len(sent[tag])
        assert said == (tag, expected_level), (said, tag, expected_level)
        pending[tag] = said
for tag, depth in enumerate(depths):
    assert results[tag] == sent[tag], (tag, results[tag], sent[tag])
    assert len(sent[tag]) == depth + 1
    assert gs[tag]._stack_saved == 0
print("switches", switches)
""",
        timeout=120,
    )
    total = sum(d + 2 for d in [5, 17, 30, 11, 24, 2, 30, 8])
    _check(proc, f"switches {total}\n")


def test_R46_throw_unwinds_through_nested_c_callbacks(run_script):
    # An exception thrown into a greenlet parked inside map/sorted/reduce
    # callbacks unwinds through all those C frames, while another greenlet is
    # parked just as deep in the same region of the stack.
    proc = run_script(
        NESTED
        + """
main = getcurrent()

class Boom(Exception):
    pass

def guarded(tag, depth):
    try:
        return level(tag, depth, main)
    except Boom as e:
        return ("caught", tag, e.args)

a = greenlet(guarded)
b = greenlet(guarded)
assert a.switch("a", 25) == ("a", 0)
assert b.switch("b", 25) == ("b", 0)
for i in range(1, 10):
    assert a.switch(i) == ("a", i)
    assert b.switch(-i) == ("b", i)
assert a._stack_saved >= 0 and b._stack_saved >= 0
assert a.throw(Boom, 7) == ("caught", "a", (7,))
assert a.dead and not b.dead
out = [b.switch(i) for i in range(10, 27)]
assert out[:-1] == [("b", i) for i in range(10, 26)], out
assert out[-1] == [-i for i in range(1, 10)] + list(range(10, 27)), out[-1]
assert b.dead
print("ok")
"""
    )
    _check(proc, "ok\n")


# Two greenlets parked far down: A 500 Python frames deep, B 200, both
# started from main so that their slices overlap; each switch between them
# moves the other's whole slice.  While one runs it walks the other's frame
# chain (gr_frame / f_back), which on 3.12+ passes through C-stack entry frames
# that must not be read from the overwritten stack (docs/internals/hazards.rst:
# frames on the C stack).
DEEP_PAIR = """
import sys
sys.setrecursionlimit(5000)
main = getcurrent()
A_DEPTH, B_DEPTH = 500, 200
walks = []

def chain(g):
    names, ns = [], []
    f = g.gr_frame
    while f is not None:
        names.append(f.f_code.co_name)
        if f.f_code.co_name in ("a_rec", "b_rec"):
            ns.append(f.f_locals["n"])
        f = f.f_back
    return names, ns

def check_chain(g, rec, depth):
    names, ns = chain(g)
    expected = ["bottom"] + [rec] * depth + ["run_" + rec[0]]
    assert names[:len(expected)] == expected, (names[:5], len(names))
    if "frame-bottom" not in DIFFS:  # else bootstrap frames lie below
        assert len(names) == len(expected), names[len(expected):]
    assert ns == list(range(depth - 1, -1, -1)), ns[:5]
    walks.append(rec)

def bottom(tag, other_name, other_rec, other_depth):
    got = main.switch((tag, "parked"))
    count = 0
    while got is not None:
        kind, value = got
        count += 1
        if kind == "walk":
            check_chain(globals()[other_name], other_rec, other_depth)
        got = main.switch((tag, value * 2, count))
    return count

def a_rec(n, token):
    if n == A_DEPTH - 1:
        r = bottom("a", "b", "b_rec", B_DEPTH)
    else:
        # every other level is entered from C (map), so the chain of frames
        # alternates Python-to-Python calls and C-stack entry frames
        r = a_rec(n + 1, token) if n % 2 else next(map(a_rec, [n + 1], [token]))
    assert token[n] == ("a", n)
    return r

def b_rec(n, token):
    if n == B_DEPTH - 1:
        r = bottom("b", "a", "a_rec", A_DEPTH)
    else:
        r = b_rec(n + 1, token) if n % 2 else next(map(b_rec, [n + 1], [token]))
    assert token[n] == ("b", n)
    return r

def run_a():
    return a_rec(0, [("a", i) for i in range(A_DEPTH)])

def run_b():
    return b_rec(0, [("b", i) for i in range(B_DEPTH)])

a = greenlet(run_a)
b = greenlet(run_b)
"""


def test_R46_large_saved_stacks_switch_back_and_forth(run_script):
    proc = run_script(
        DEEP_PAIR
        + """
assert a.switch() == ("a", "parked")
assert b.switch() == ("b", "parked")
ROUNDS = 1500
for i in range(ROUNDS):
    assert a.switch(("v", i)) == ("a", 2 * i, i + 1)
    assert b.switch(("v", -i)) == ("b", -2 * i, i + 1)
    if i % 100 == 0:
        if "stack-saved-zero" not in DIFFS:
            assert a._stack_saved > 0 and b._stack_saved > 0, (a._stack_saved, b._stack_saved)
        else:
            assert a._stack_saved == 0 and b._stack_saved == 0
assert a.switch(None) == ROUNDS
assert b.switch(None) == ROUNDS
assert a.dead and b.dead
print("ok")
""",
        timeout=120,
    )
    _check(proc, "ok\n")


def test_R35_frame_chains_of_deep_suspended_greenlets(run_script):
    proc = run_script(
        DEEP_PAIR
        + """
assert a.switch() == ("a", "parked")
assert b.switch() == ("b", "parked")
for i in range(40):
    # walked from main while both are parked
    check_chain(a, "a_rec", A_DEPTH)
    check_chain(b, "b_rec", B_DEPTH)
    # A walks B's chain while A runs on top of B's overwritten slice, and back
    assert a.switch(("walk", i)) == ("a", 2 * i, i + 1)
    assert b.switch(("walk", i)) == ("b", 2 * i, i + 1)
    # the frames survive being walked and resumed
    assert a.gr_frame.f_code.co_name == "bottom"
    assert b.gr_frame.f_back.f_locals["n"] == B_DEPTH - 1
assert walks.count("a_rec") == 80 and walks.count("b_rec") == 80, walks[:4]
# keep frame objects of a parked greenlet across its resumptions
fa = a.gr_frame
deep_frames = []
f = fa
while f is not None:
    deep_frames.append(f)
    f = f.f_back
assert a.switch(("v", 1)) == ("a", 2, 41)
assert [f.f_code.co_name for f in deep_frames[:3]] == ["bottom", "a_rec", "a_rec"]
assert a.switch(None) == 41 and b.switch(None) == 40
assert a.gr_frame is None and b.gr_frame is None
# frames of finished greenlets stay readable and unlinked
assert [f.f_code.co_name for f in deep_frames[:2]] == ["bottom", "a_rec"]
assert deep_frames[5].f_locals["n"] == A_DEPTH - 5
del deep_frames, fa, f
print("ok")
""",
        timeout=120,
    )
    _check(proc, "ok\n")


# --------------------------------------------------------------------------------------
# R46: _stack_saved accounting
# --------------------------------------------------------------------------------------


def test_R46_stack_saved_accounting(api, capable):
    import functools

    g = api.greenlet
    main = api.getcurrent()
    copies = capable("stack-slicing")

    def c_deep(n, then):
        # n levels of C recursion (map + reduce callbacks), then call then()
        if n == 0:
            return then()
        if n % 2:
            return list(map(lambda _: c_deep(n - 1, then), [0]))[0]
        return functools.reduce(lambda acc, _: c_deep(n - 1, then), [0], None)

    seen = {}

    def deep_body(tag, depth):
        def at_bottom():
            seen[tag, "running"] = api.getcurrent()._stack_saved
            v = main.switch(tag)
            seen[tag, "resumed"] = api.getcurrent()._stack_saved
            return v

        return c_deep(depth, at_bottom)

    a = g(deep_body)
    b = g(deep_body)
    assert main._stack_saved == 0  # running
    assert a._stack_saved == 0  # unstarted
    assert a.switch("a", 60) == "a"
    assert seen["a", "running"] == 0
    # parked by a switch to main: its whole slice is below main's and is saved
    saved_a = a._stack_saved
    if copies:
        assert saved_a > 60 * 100, saved_a
    else:
        assert saved_a == 0
    assert b.switch("b", 120) == "b"
    saved_b = b._stack_saved
    if copies:
        assert saved_b > saved_a, (saved_a, saved_b)
        assert a._stack_saved == saved_a  # nothing more to save, nothing restored
    else:
        assert saved_b == 0
    # a resumed greenlet has nothing saved; it drops back to 0 once it finishes
    assert a.switch("A-done") == "A-done"
    assert seen["a", "resumed"] == 0
    assert a.dead and a._stack_saved == 0
    if copies:
        assert b._stack_saved > 0
    assert b.switch("B-done") == "B-done"
    assert b.dead and b._stack_saved == 0 and seen["b", "resumed"] == 0


def test_R46_stack_saved_only_what_was_overwritten(api, capable, known_difference):
    # A parent suspended in a switch to a child it started is not overwritten
    # by that child (the child runs below it): nothing of it is saved yet.
    # Once the child switches to main, both slices lie below main's and are saved.
    known_difference("stack-saved-start")
    main = api.getcurrent()
    copies = capable("stack-slicing")
    log = []

    def child():
        parent = api.getcurrent().parent
        log.append(("parent saved while child runs", parent._stack_saved))
        log.append(("self saved while running", api.getcurrent()._stack_saved))
        main.switch("child parked")
        return "child done"

    kids = []

    def parent_run():
        c = api.greenlet(child)
        kids.append(c)
        r = c.switch()
        log.append(("parent resumed", r, api.getcurrent()._stack_saved))
        return list(map(lambda _: main.switch("parent parked"), [0]))[0]

    p = api.greenlet(parent_run)
    assert p.switch() == "child parked"
    assert log[:2] == [("parent saved while child runs", 0), ("self saved while running", 0)]
    (c,) = kids
    if copies:
        assert p._stack_saved > 0 and c._stack_saved > 0
    else:
        assert p._stack_saved == 0 and c._stack_saved == 0
    # resuming the child goes back down below the parent; the child finishes
    # and the parent gets its result
    assert c.switch() == "parent parked"
    assert log[2] == ("parent resumed", "child done", 0)
    assert c.dead and c._stack_saved == 0
    if copies:
        assert p._stack_saved > 0
    assert p.switch("end") == "end"
    assert p.dead and p._stack_saved == 0


def test_R46_frames_across_data_stack_chunks_of_many_greenlets(run_script):
    # On 3.11+ a greenlet's first frames live in a small data-stack chunk of
    # its own and deeper ones in chunks the interpreter adds on top
    # (docs/internals/interpreter_state.rst).  Greenlets parked at every depth
    # from 0 to 119 frames, below first frames of 16 sizes (so the chunk
    # boundaries fall at every depth and offset), resumed
    # in a shuffled order, each switching again on its way back up; frame
    # objects kept from the deepest level stay readable after their greenlets
    # finish; 30 rounds reuse the chunks of finished greenlets.
    proc = run_script(
        """
import gc, random, sys
rng = random.Random(7)
main = getcurrent()

def down(n, tag):
    if n == 0:
        frame = sys._getframe()
        main.switch(("bottom", tag, frame))
        return [tag]
    out = down(n - 1, tag)
    if n % 10 == 0:
        main.switch(("up", tag, n))
    return out + [n]

# first frames of 0..15 extra locals: the chunk boundaries fall at every offset
entries = []
for k in range(16):
    names = ", ".join("x%d" % i for i in range(k + 1))
    exec("def entry(n, tag):\\n    %s = range(%d)\\n    return down(n, tag)" % (names, k + 1))
    entries.append(entry)

kept = []
for round_ in range(30):
    gs = [greenlet(entries[(round_ + i) % 16]) for i in range(120)]
    for depth, g in enumerate(gs):
        said = g.switch(depth, (round_, depth))
        assert said[:2] == ("bottom", (round_, depth)), said
        if depth % 40 == 0:
            kept.append((depth, said[2]))
    live = list(range(120))
    while live:
        depth = rng.choice(live)
        said = gs[depth].switch()
        if gs[depth].dead:
            assert said == [(round_, depth)] + list(range(1, depth + 1)), (depth, said)
            live.remove(depth)
        else:
            assert said[:2] == ("up", (round_, depth)), said
    del gs
gc.collect()
assert len(kept) == 90
for depth, f in kept:
    assert f.f_code.co_name == "down" and f.f_locals["n"] == 0, f
    if depth:
        assert f.f_back.f_code.co_name == "down" and f.f_back.f_locals["n"] == 1, f.f_back
print("ok")
""",
        timeout=240,
    )
    _check(proc, "ok\n")
