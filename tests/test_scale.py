"""Many greenlets at once: a process with 10,000 suspended greenlets still works."""

from __future__ import annotations


def test_R23_ten_thousand_suspended_greenlets(run_script):
    proc = run_script(
        """
        import gc
        if NO_REFCOUNTING:
            # PyPy's JIT keeps a few objects it saw while compiling alive for
            # good: with it, a few of these greenlets would never be collected
            import pypyjit
            pypyjit.set_param("off")
        # PyPy with its JIT off starts and kills threads slowly: fewer there
        N = 300 if NO_REFCOUNTING else 10000
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
