"""Many greenlets at once: a process with 10,000 suspended greenlets (2,000 on the reference
backend, an OS thread each) still works."""

from __future__ import annotations

import sys


def test_R23_ten_thousand_suspended_greenlets(run_script):
    proc = run_script(
        """
        import gc
        if NO_REFCOUNTING:
            # PyPy's JIT keeps a few objects it saw while compiling alive for
            # good: with it, a few of these greenlets would never be collected
            import pypyjit
            pypyjit.set_param("off")
        # Without stack slicing, each greenlet needs an OS thread: fewer there
        # (CI runs two test environments at once, and the machine's PID space,
        # 32768 here, is shared), and fewer still on PyPy, where threads with
        # the JIT off start and die slowly.
        threads = "stack-slicing" not in CAPS
        N = 300 if NO_REFCOUNTING else (2000 if threads else 10000)
        killed = []
        def park(i):
            try:
                getcurrent().parent.switch(i)
            except GreenletExit:
                killed.append(i)
                raise
        gs = [greenlet(park) for _ in range(N)]
        assert [g.switch(i) for i, g in enumerate(gs)] == list(range(N))
        assert all(g and not g.dead for g in gs)
        # every one of them can still be resumed
        assert sum(1 for g in gs[:: N // 10] if g.switch() is None and g.dead) == 10
        del gs
        gc.collect()
        if NO_REFCOUNTING:  # PyPy: some kills are left for the next collections
            collect_garbage()
        assert len(killed) == N - 10, len(killed)
        print("ok")
        """,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_R23_dropping_a_long_chain_of_suspended_greenlets(run_script, upstream_bug):
    # Each greenlet is parked in a frame that holds the previous one, so
    # dropping the newest kills them all, each kill dropping the next: on
    # CPython the kills nest.  Upstream greenlet 3.5.6 on CPython 3.13.0 runs
    # out of C stack here (SIGSEGV) with 100,000 greenlets, not on every run
    # (it depends on how much C stack each nested kill takes there).
    if sys.version_info >= (3, 13):
        upstream_bug("runs out of C stack killing a chain of 100,000 greenlets", True)
    proc = run_script(
        """
        import gc
        if NO_REFCOUNTING:
            import pypyjit
            pypyjit.set_param("off")
        threads = "stack-slicing" not in CAPS
        N = 100 if NO_REFCOUNTING else (1000 if threads else 100000)
        main = getcurrent()
        killed = []
        def link(previous, i):
            try:
                value = main.switch()
                previous.switch(value + 1)
            except GreenletExit:
                killed.append(i)
                raise
        head = main
        for i in range(N):
            g = greenlet(link)
            g.switch(head, i)
            head = g
        assert head.switch(0) == N  # the value went down the whole chain
        del g, head
        gc.collect()
        # PyPy: each kill frees the next greenlet of the chain, which the next
        # collection finds and kills
        for _ in range(N + 10 if NO_REFCOUNTING else 0):
            if len(killed) == N:
                break
            gc.collect()
        assert sorted(killed) == list(range(N)), (len(killed), killed[:5])
        print("ok")
        """,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout.strip() == "ok"
