"""Stacks of many threads, threads that die with parked greenlets, exit, and memory.

Each OS thread has its own C stack and its own set of slices; these scripts
run in a subprocess (they may crash or leak) and check the exit status,
the exact output and an empty stderr.
"""

from __future__ import annotations

import os

import pytest


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


COMMON = """
import faulthandler, functools, gc, threading, weakref
faulthandler.dump_traceback_later(150, exit=True)  # a hang fails with tracebacks

def c_nest(n, fn):
    # n levels of C callbacks (map, sorted key, reduce) around fn()
    if n == 0:
        return fn()
    if n % 3 == 0:
        return list(map(lambda _: c_nest(n - 1, fn), [0]))[0]
    if n % 3 == 1:
        box = []

        def key(x):
            if x:
                box.append(c_nest(n - 1, fn))
            return x

        sorted([1, 0], key=key)
        return box[0]
    return functools.reduce(lambda acc, _: c_nest(n - 1, fn), [0], None)

def py_deep(n, fn):
    # n Python frames around fn()
    return fn() if n == 0 else py_deep(n - 1, fn)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
"""


# --------------------------------------------------------------------------------------
# Many threads at once
# --------------------------------------------------------------------------------------


#: Under AddressSanitizer (tools/asan.sh preloads it) freed memory waits in a
#: quarantine of up to 256 MiB before it is reused, so the process's resident
#: size says nothing about leaks there; the other environments measure it.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
#: Under a user-mode emulator (.ci/cross.sh sets PYGREENLET_EMULATOR) the
#: resident size is the emulator's: qemu-user keeps about 280 KiB for every
#: thread that ever ran (measured with qemu 7.2; the reference backend starts
#: a thread per greenlet) and its cache of translated code grows as new code
#: runs, so it says nothing about the program's leaks.
UNDER_EMULATION = bool(os.environ.get("PYGREENLET_EMULATOR"))
MEASURES_MEMORY = pytest.mark.skipif(
    UNDER_ASAN or UNDER_EMULATION or not os.path.exists("/proc/self/statm"),
    reason="measures the resident size: needs /proc/self/statm, no AddressSanitizer "
    "(its quarantine keeps freed memory resident) and no emulator (qemu-user's own "
    "memory grows with every thread and with the code it translates)",
)


def test_R21_many_threads_switch_their_own_deep_greenlets(run_script):
    proc = run_script(
        COMMON
        + """
THREADS, GREENLETS, ROUNDS = 8, 3, 700
results = {}
errors = []
barrier = threading.Barrier(THREADS)

def thread_body(t):
    try:
        main = getcurrent()
        def worker(k):
            def body():
                total = 0
                for i in range(ROUNDS):
                    got = main.switch((t, k, i))
                    assert got == t * 1000 + k * 100 + i % 7, (got, t, k, i)
                    total += got
                return total
            return c_nest(6 + 3 * k + t % 3, lambda: py_deep(20 * k, body))
        gs = [greenlet(worker) for _ in range(GREENLETS)]
        barrier.wait()  # all threads switch at the same time
        said = [g.switch(k) for k, g in enumerate(gs)]
        switches = GREENLETS
        for i in range(ROUNDS):
            for k, g in enumerate(gs):
                assert said[k] == (t, k, i), (said[k], t, k, i)
                assert getcurrent() is main
                said[k] = g.switch(t * 1000 + k * 100 + i % 7)
                switches += 1
        assert all(g.dead for g in gs)
        assert all(g._stack_saved == 0 for g in gs)
        results[t] = (said, switches)
    except BaseException as e:
        errors.append((t, repr(e)))

threads = [threading.Thread(target=thread_body, args=(t,)) for t in range(THREADS)]
for th in threads:
    th.start()
for th in threads:
    th.join()
assert errors == [], errors
for t in range(THREADS):
    said, switches = results[t]
    expected = [sum(t * 1000 + k * 100 + i % 7 for i in range(ROUNDS)) for k in range(GREENLETS)]
    assert said == expected, (t, said, expected)
    print(t, switches)
""",
        timeout=200,
    )
    _check(proc, "".join(f"{t} {3 + 3 * 700}\n" for t in range(8)))


def test_R46_threads_interleave_deep_greenlets_with_saved_stacks(run_script):
    # Two greenlets per thread parked deep in C callbacks, switched directly
    # into each other (no trip through main); the thread's main checks the
    # other's saved bytes while the threads run concurrently.
    proc = run_script(
        COMMON
        + """
THREADS, ROUNDS = 6, 400
out, errors = {}, []

def thread_body(t):
    try:
        main = getcurrent()
        log = []
        def ping_body():
            v = 0
            for i in range(ROUNDS):
                v = pong.switch(v + 1)
            return ("ping", v)
        def pong_body(v):
            while True:
                log.append(v)
                v = ping.switch(v + 1)
        ping = greenlet(lambda: c_nest(40, ping_body))
        pong = greenlet(lambda v: c_nest(25, lambda: pong_body(v)), parent=ping)
        result = ping.switch()
        assert result == ("ping", 2 * ROUNDS), result
        assert log == list(range(1, 2 * ROUNDS, 2)), log[:5]
        if "stack-slicing" in CAPS:
            assert pong._stack_saved > 0, pong._stack_saved
        else:
            assert pong._stack_saved == 0
        assert isinstance(pong.throw(), GreenletExit)
        assert pong.dead and pong._stack_saved == 0 and ping._stack_saved == 0
        out[t] = len(log)
    except BaseException as e:
        errors.append((t, repr(e)))

threads = [threading.Thread(target=thread_body, args=(t,)) for t in range(THREADS)]
for th in threads:
    th.start()
for th in threads:
    th.join()
assert errors == [], errors
print(sorted(out.items()))
""",
        timeout=200,
    )
    _check(proc, "%r\n" % [(t, 400) for t in range(6)])


# --------------------------------------------------------------------------------------
# R22: a thread that ends with parked greenlets
# --------------------------------------------------------------------------------------


def test_R22_thread_death_with_deep_suspended_greenlets(run_script):
    proc = run_script(
        COMMON
        + """
import time
EXITED = "cannot switch to a different thread (which happens to have exited)"

class Marker:
    pass

def wait_dead(g):
    # upstream notices a thread's death a little later: poll (not a pass criterion)
    deadline = time.monotonic() + 30
    while not g.dead and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.001)

def one_round(r):
    kept, markers = [], []
    def thread_body():
        main = getcurrent()
        def holder(i):
            # Like upstream, no code runs in a dead thread's greenlet, so the
            # objects its frames reference are not freed (upstream leaks them
            # too); this test checks its state and its saved C stack.
            m = Marker()
            markers.append(weakref.ref(m))
            def bottom():
                main.switch(("parked", i, 256 * 1024))
                return m
            return c_nest(10 + 5 * i, lambda: py_deep(30 * i, bottom))
        gs = [greenlet(holder) for _ in range(4)]
        for i, g in enumerate(gs):
            assert g.switch(i) == ("parked", i, 256 * 1024)
        # a greenlet parked while its own child runs, and that child
        def parent_body():
            child = greenlet(lambda: c_nest(12, lambda: main.switch("child parked")))
            return c_nest(7, child.switch)
        p = greenlet(parent_body)
        assert p.switch() == "child parked"
        kept.extend(gs)
        kept.append(p)
    th = threading.Thread(target=thread_body)
    th.start()
    th.join()
    for g in kept:
        wait_dead(g)
    assert all(g.dead for g in kept), kept
    assert all(not g for g in kept)
    assert all(g.gr_frame is None for g in kept)
    assert all(g._stack_saved == 0 for g in kept)
    try:
        kept[0].switch()
    except greenlet.error as e:
        assert str(e) == EXITED, e
    else:
        raise AssertionError("switched into a greenlet of a dead thread")
    del kept
    gc.collect()

one_round(0)
gc.collect()
before = rss()
for r in range(1, 16):
    one_round(r)
gc.collect()
grown = rss() - before
# the saved C stacks (tens of KiB each) must be freed; a few frames' locals are
# not (the size means nothing under AddressSanitizer, whose quarantine keeps
# freed memory, nor under an emulator: see UNDER_ASAN and UNDER_EMULATION)
measured = "libasan" not in os.environ.get("LD_PRELOAD", "")
if measured and not os.environ.get("PYGREENLET_EMULATOR"):
    assert grown < 6 * 1024 * 1024, grown
print("ok")
""",
        timeout=200,
    )
    _check(proc, "ok\n")


# --------------------------------------------------------------------------------------
# R27: the process exits with greenlets still parked
# --------------------------------------------------------------------------------------


def test_R27_exit_with_deep_suspended_greenlets_everywhere(run_script):
    proc = run_script(
        COMMON
        + """
import sys
gc.disable()  # keep the garbage cycles until the interpreter shuts down
write = os.write

def noisy(tag, depth, c_depth):
    # would write if GreenletExit ever reached it during shutdown
    def bottom():
        try:
            getcurrent().parent.switch(tag)
        except GreenletExit:
            write(1, b"GreenletExit in %s\\n" % tag.encode())
            raise
    return c_nest(c_depth, lambda: py_deep(depth, bottom))

kept = []
# in main: deep ones, and one parked while its child runs
for i in range(5):
    g = greenlet(noisy)
    assert g.switch("main%d" % i, 100 * i, 10 * i) == "main%d" % i
    kept.append(g)
def parent_body():
    c = greenlet(noisy)
    kept.append(c)
    return c_nest(9, lambda: c.switch("child", 50, 20))
p = greenlet(parent_body)
assert p.switch() == "child"
kept.append(p)

# in garbage cycles
class Holder:
    pass
for i in range(5):
    h = Holder()
    h.me = h
    h.g = greenlet(noisy)
    assert h.g.switch("cycle%d" % i, 60, 15) == "cycle%d" % i
del h

# in a thread that already ended, and in a daemon thread still blocked
def thread_body(tag, block):
    for i in range(3):
        g = greenlet(noisy)
        assert g.switch("%s%d" % (tag, i), 80, 12) == "%s%d" % (tag, i)
        kept.append(g)
    ready.set()
    if block:
        threading.Event().wait()
ready = threading.Event()
t = threading.Thread(target=thread_body, args=("done", False))
t.start()
t.join()
ready.clear()
d = threading.Thread(target=thread_body, args=("daemon", True), daemon=True)
d.start()
assert ready.wait(60)
print("OK", flush=True)
""",
        timeout=200,
    )
    _check(proc, "OK\n")


# --------------------------------------------------------------------------------------
# Memory: nothing grows once warmed up
# --------------------------------------------------------------------------------------


@MEASURES_MEMORY
def test_R23_memory_of_create_switch_finish_and_drop_cycles(run_script):
    proc = run_script(
        COMMON
        + """
main = getcurrent()
N = 10000
killed = [0]

def finishing(i):
    # switches out and back once, deep in C callbacks, then finishes
    return c_nest(6, lambda: main.switch(i) + 1)

def parked(i):
    try:
        c_nest(6, lambda: main.switch(i))
    except GreenletExit:
        killed[0] += 1
        raise

def workload():
    for i in range(N):
        g = greenlet(finishing)
        assert g.switch(i) == i
        assert g.switch(i) == i + 1
        assert g.dead
    for i in range(N):
        g = greenlet(parked)
        assert g.switch(i) == i
        del g  # suspended, then dropped: killed
    gc.collect()

workload()  # warm up: free lists, caches, arenas
gc.collect()
before = rss()
workload()
gc.collect()
grown = rss() - before
assert killed[0] == 2 * N, killed[0]
assert grown < 4 * 1024 * 1024, grown
print("ok")
""",
        timeout=300,
    )
    _check(proc, "ok\n")
