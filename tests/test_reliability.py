"""Inputs that once crashed, hung or leaked: each runs in a fresh interpreter.

Every test here states what upstream greenlet does with the same program (the
oracle, where it survives) and asserts the exit status as well as the output
(docs/internals/hazards.rst names the hazard behind each).
"""

from __future__ import annotations


def _ok(proc, *expected: str) -> list[str]:
    """Assert the script exited cleanly and printed *expected* lines (in order)."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    lines = proc.stdout.splitlines()
    if expected:
        assert lines == list(expected), (lines, proc.stderr[-2000:])
    return lines


# --------------------------------------------------------------------------------------
# R22/R23: frames that outlive the stack they ran on
# --------------------------------------------------------------------------------------


def test_R23_frames_kept_from_a_greenlet_resurrected_during_its_kill(run_script):
    proc = run_script(
        """
        import gc, traceback
        keep, frames = [], []
        def body():
            while True:
                try:
                    getcurrent().parent.switch()
                except GreenletExit as e:
                    frames.append(sys._getframe())
                    frames.append(e)
                    if not keep:
                        keep.append(getcurrent())  # resurrected during its first kill
                        continue
                    raise
        g = greenlet(body); g.switch(); del g
        g = keep.pop(); del g
        collect_garbage()
        for f in frames:
            if hasattr(f, "f_code"):
                print(f.f_code.co_name, f.f_lineno > 0)
            else:
                print(traceback.format_exception(type(f), f, f.__traceback__)[-1].strip())
        del frames[:]
        collect_garbage()
        print("ok")
        """
    )
    lines = _ok(proc)
    assert lines[-1] == "ok"
    kill = "GreenletExit: Killing the greenlet because all references have vanished."
    for frame_line, exc_line in zip(lines[0:-1:2], lines[1:-1:2]):
        assert frame_line == "body True" and exc_line.endswith(kill), lines
    assert len(lines) in (3, 5), lines  # killed once (reference: "second-kill") or twice


def test_R22_frames_and_generators_of_a_dead_threads_greenlet_stay_readable(
    run_script, upstream_bug
):
    upstream_bug("frees the stack of a dead thread's greenlet under its frame objects", True)
    # A greenlet is left suspended (inside a running generator) in a thread
    # that exits; its frames are kept through sys._getframe() and an
    # exception's traceback.  Reading .dead frees its stack; the frames must
    # stay readable and collectable (upstream greenlet crashes here, or reads
    # freed memory).
    proc = run_script(
        """
        import gc, threading, traceback
        kept = {}
        class Big:
            alive = 0
            def __init__(self): Big.alive += 1
            def __del__(self): Big.alive -= 1
        def gen():
            yield getcurrent().parent.switch("in gen")
        def body(depth):
            x = Big()
            if depth:
                return body(depth - 1)
            try:
                raise ValueError("boom")
            except ValueError as e:
                kept["exc"] = e
            kept["frame"] = sys._getframe()
            kept["gen"] = g = gen()
            next(g)
        def thread_main():
            g = greenlet(body)
            print(g.switch(5))
            kept["g"] = g
        for i in range(3):
            t = threading.Thread(target=thread_main)
            t.start(); t.join()
            collect_garbage()
            print(kept["g"].dead, kept["g"].gr_frame)
            f = kept["frame"]
            print(f.f_code.co_name, f.f_lineno > 0, sorted(f.f_locals), f.f_back.f_code.co_name)
            depth = 0
            while f is not None and f.f_code.co_name == "body":
                depth += 1
                f = f.f_back
            print("depth", depth)
            e = kept["exc"]
            print(traceback.format_exception(type(e), e, e.__traceback__)[-1].strip())
            del e
            it = kept["gen"]
            it.gi_frame  # readable (None or a frame, as the version has it)
            try:
                next(it)
            except (StopIteration, ValueError):
                pass
            del f, it
            kept.clear()
            collect_garbage()
        print("leaked locals", Big.alive)
        """
    )
    lines = _ok(proc)
    for i in range(3):
        assert lines[5 * i : 5 * i + 5] == [
            "in gen",
            "True None",
            "body True ['depth', 'g', 'x'] body",
            "depth 6",
            "ValueError: boom",
        ], lines
    assert lines[-1] == "leaked locals 0", lines
