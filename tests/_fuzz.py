"""A differential random-program fuzzer: the same seeded programs on every backend.

A program is a list of operations (JSON-able lists) made by :func:`generate`
from a seed.  A worker subprocess (``python tests/_fuzz.py --worker BACKEND``)
reads programs from stdin, one JSON line each, runs them with that backend's
API and writes one JSON line per program: the program's event trace, a text
that does not depend on the backend (greenlets are named ``g<n>``, values and
exceptions are written without ids or reprs).  :func:`run_backend` feeds a
worker and starts a new one when it crashes or hangs (the program that was
running is reported as a crash with its seed); :func:`compare` finds the
programs whose traces differ between backends.

How a program runs.  Operations are taken one at a time from one shared
stream by whichever greenlet is running: the main greenlet, and every greenlet
whose ``run`` is :func:`_Program.body` (a loop over the same stream).  A
``switch``/``throw`` operation hands control to another greenlet, which goes on
with the next operation; a ``return``/``raise`` operation ends the running
greenlet's ``run``.  When the stream is empty each greenlet's ``run`` returns,
and the main greenlet records the final state, drops every greenlet and
collects.  The automatic GC is off while a program runs, so objects are freed
only by reference counting and at the ``gc`` operations, the same way
everywhere.

What the generator leaves out, because the backends may differ there on
purpose (the keys of ``DIFFERENCES`` in ``tests/conftest.py``, described in
``docs/backends.rst``):

``thread-identity``
    no event records ``threading.get_ident()``, ``current_thread()`` or
    ``threading.local`` data.
``recursion-depth``, ``frame-bottom``, ``traceback-frames``, ``exit-traceback``
    no recursion-depth operations; no ``f_back``, no traceback and no
    ``__traceback__`` is ever recorded (``throw`` with a traceback passes one,
    the trace records only the exception's type and arguments), and a
    ``GreenletExit`` that is recorded loses its traceback (whose reference
    cycle would keep a dead greenlet alive until a collection on upstream
    only: ``norm``).
``second-kill``
    no greenlet resurrects itself while it is being killed, and once one has
    gone on after the ``GreenletExit`` of its kill nothing takes a new
    reference to it: it makes no greenlet (whose parent it would be by
    default) and becomes nobody's parent.
``dead-thread-eager``
    a greenlet of a thread that exited is always asked ``dead`` first, before
    any other operation touches it (see ``_Program.touch``).
``dead-thread-finally``
    the greenlets of the second thread have no ``finally`` block and catch only
    ``GreenletExit``, so the reference backend's unwinding of a greenlet left in
    an exited thread records nothing.
``suspended-cycle``
    no greenlet is stored in a greenlet's ``__dict__`` (only its name string),
    so no reference cycle goes through a ``__dict__``.
``c-layout``, ``stack-saved-start``, ``stack-saved-zero``, ``shutdown-start``
    sizes, ``_stack_saved`` and interpreter shutdown are never looked at.

And one place where upstream greenlet itself is wrong (kept out as
``exit-to-unstarted``): a ``GreenletExit`` handed as a value to an *unstarted*
greenlet is passed by upstream where run()'s argument tuple is expected
(pygreenlet calls ``run(exc)``, rule R13), so an operation that would do that
is skipped (``_Program.exit_reaches_unstarted``).  Likewise
``dead-thread-restart``: once upstream has noticed that the thread of a
greenlet left suspended there exited, the greenlet looks unstarted again: its
``run`` can be read (it is still there) and set, its ``parent`` set to a
greenlet of the current thread, and a switch to it then crashes upstream.
pygreenlet keeps it started and dead (rules R18, R22, R36), so the fuzzer
never reads or sets ``run`` or ``parent`` of such a greenlet.
"""

from __future__ import annotations

import contextvars
import difflib
import gc
import json
import os
import random
import re
import selectors
import subprocess
import sys
import threading
import time
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))

#: Switch-argument packings (rule R1): name -> (args, kwargs) from a value v.
PACKINGS = {
    "none": lambda v: ((), {}),
    "a1": lambda v: ((v,), {}),
    "a2": lambda v: ((v, v + 1), {}),
    "a3": lambda v: ((v, "x", None), {}),
    "kw": lambda v: ((), {"k": v}),
    "kw2": lambda v: ((), {"k": v, "j": -v}),
    "a1kw": lambda v: ((v,), {"k": v}),
    "a2kw": lambda v: ((v, v), {"k": v}),
    "kwempty": lambda v: ((), {}),
    "atuple": lambda v: (((v, v),), {}),
    "anone": lambda v: ((None,), {}),
    "adict": lambda v: (({"d": v},), {}),
}

#: throw() argument forms (rule R10); the last three are invalid.
THROW_FORMS = [
    "none",
    "cls",
    "cls_msg",
    "cls_inst",
    "inst",
    "cls_tuple",
    "cls_none_tb",
    "inst_none_tb",
    "cls_none_none",
    "cls_other_inst",
    "inst_val",
    "not_exc",
    "bad_tb",
]
EXC_CLASSES = ["FzError", "FzSub", "FzBase", "GreenletExit", "ValueError"]
NEW_KINDS = ["plain", "plain_kw", "sub", "sub_init", "norun", "none_run", "ret", "bare_sub"]
EXIT_MODES = ["reraise", "return", "continue"]
SLOTS = 5
TARGETS = [f"s{i}" for i in range(SLOTS)] + ["main", "cur", "par"]
XTHREAD_ACTIONS = ["switch", "throw", "reparent_mine", "reparent_it", "drop", "state", "none"]


#: Bugs found by this fuzzer and not fixed yet: flag -> description.  The
#: in-suite sample (``generate(seed, sample=True)``) keeps them out, each by
#: its flag (the interpreter skips the operation that would show the bug and
#: records "skip (<flag>)"); the long run (tools/fuzz.py) does not, so it
#: still counts them.  Remove a flag once its bug is fixed.
KNOWN_BUGS: dict[str, str] = {}


def generate(seed: int, length: int | None = None, sample: bool = False) -> list:
    """The program of *seed*: a list of operations (lists of str/int).

    With *sample*, the first operation is ``["_skip", *KNOWN_BUGS]``.
    """
    rnd = random.Random(seed)
    n = length if length is not None else rnd.randint(8, 48)
    ops: list = [["_skip", *KNOWN_BUGS]] if sample and KNOWN_BUGS else []
    n += len(ops)
    # a few greenlets first, so that most operations have a target
    for i in range(rnd.randint(1, 3)):
        ops.append(_new(rnd, i))
    weights = {
        "new": 10,
        "switch": 24,
        "throw": 10,
        "drop": 5,
        "reparent": 5,
        "gc": 3,
        "settrace": 3,
        "cvset": 3,
        "cvget": 3,
        "cvctx": 2,
        "cvassign": 2,
        "state": 5,
        "run_get": 1,
        "run_set": 2,
        "return": 4,
        "raise": 3,
        "thread": 2,
        "xthread": 2,
        "cur": 1,
        "frame": 1,
    }
    kinds = list(weights)
    cum = list(weights.values())
    while len(ops) < n:
        kind = rnd.choices(kinds, cum)[0]
        v = len(ops)
        slot = rnd.randrange(SLOTS)
        tgt = rnd.choice(TARGETS)
        if kind == "new":
            ops.append(_new(rnd, slot))
        elif kind == "switch":
            ops.append(["switch", tgt, rnd.choice(list(PACKINGS)), v])
        elif kind == "throw":
            ops.append(["throw", tgt, rnd.choice(THROW_FORMS), rnd.choice(EXC_CLASSES), v])
        elif kind == "drop":
            ops.append(["drop", slot])
        elif kind == "reparent":
            ops.append(["reparent", f"s{slot}", rnd.choice(TARGETS + ["int", "none"])])
        elif kind == "gc":
            ops.append(["gc"])
        elif kind == "settrace":
            ops.append(["settrace", rnd.choice(["rec", "rec", "off", "raise2"])])
        elif kind == "cvset":
            ops.append(["cvset", v])
        elif kind == "cvget":
            ops.append(["cvget"])
        elif kind == "cvctx":
            ops.append(["cvctx", tgt])
        elif kind == "cvassign":
            ops.append(["cvassign", tgt, rnd.choice(["new", "copy", "none", "bad"])])
        elif kind == "state":
            ops.append(["state", tgt])
        elif kind == "run_get":
            ops.append(["run_get", f"s{slot}"])
        elif kind == "run_set":
            ops.append(["run_set", f"s{slot}", rnd.choice(["body", "ret"])])
        elif kind == "return":
            ops.append(["return", v])
        elif kind == "raise":
            ops.append(["raise", rnd.choice(EXC_CLASSES), v])
        elif kind == "thread":
            ops.append(["thread", slot, rnd.choice(["finish", "park"])])
        elif kind == "xthread":
            ops.append(["xthread", slot, rnd.choice(XTHREAD_ACTIONS), rnd.randrange(SLOTS)])
        elif kind == "cur":
            ops.append(["cur"])
        elif kind == "frame":
            ops.append(["frame", tgt])
    return ops


def _new(rnd: random.Random, slot: int) -> list:
    parent = rnd.choice(["default", "default", "main", "cur"] + [f"s{i}" for i in range(SLOTS)])
    return ["new", slot, rnd.choice(NEW_KINDS), parent, rnd.choice(EXIT_MODES)]


# --------------------------------------------------------------------------
# The worker: runs programs on one backend


class FzError(Exception):
    pass


class FzSub(FzError):
    pass


class FzBase(BaseException):
    pass


def norm(v, depth: int = 0):
    """A backend-independent text for a value: greenlets by name, no ids or reprs."""
    if depth > 4:
        return "..."
    if _API is not None and isinstance(v, _API.greenlet):
        return name(v)
    if isinstance(v, BaseException):
        if _API is not None and isinstance(v, _API.GreenletExit):
            # exit-traceback: a GreenletExit handed up keeps a traceback on
            # upstream (a cycle through the dead greenlet's frames, freed only
            # by the collector) and on pygreenlet before 3.12 has none; no
            # trace shows tracebacks, and dropping it here makes the objects'
            # lifetimes the same everywhere
            v.__traceback__ = None
        return f"{type(v).__name__}{norm(v.args, depth + 1)}"
    if isinstance(v, str):
        return repr(_scrub(v))
    if isinstance(v, tuple):
        inner = ", ".join(norm(x, depth + 1) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(norm(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {norm(x, depth + 1)}" for k, x in v.items()) + "}"
    if v is None or isinstance(v, (int, str, bool, float)):
        return repr(v)
    if isinstance(v, contextvars.Context):
        return "<Context>"
    if callable(v):
        return f"<callable {getattr(v, '__name__', type(v).__name__)}>"
    return f"<{type(v).__name__}>"


_ADDR = re.compile(r"0x[0-9a-fA-F]+")
_MODULE = re.compile(r"\b(?:py)?greenlet\.greenlet\b")


def _scrub(text: str) -> str:
    """Messages may contain greenlet reprs (rule R38): no addresses, one module name."""
    return _MODULE.sub("greenlet", _ADDR.sub("0x?", text))


def name(g) -> str:
    if g is None:
        return "None"
    try:
        n = g.__dict__.get("fz_name")
    except Exception:  # pragma: no cover - a greenlet always has a __dict__
        n = None
    return n or "<greenlet>"


_API = None


class _Program:
    def __init__(self, api, ops: list) -> None:
        self.api = api
        self.ops = ops
        self.pc = 0
        self.trace: list[str] = []
        self.pool: dict[int, object] = {}
        self.modes: dict[str, str] = {}
        # second-kill: greenlets that went on after the GreenletExit of their
        # kill; nothing may take a new reference to one (a child's parent).
        self.killed: set[str] = set()
        self.refs: list = []  # (name, weakref)
        self.foreign: set[str] = set()  # greenlets of threads that exited
        self.tmains: dict = {}  # greenlet name -> weakref to its thread's main greenlet
        self.count = 0
        self.nthreads = 0
        self.var = contextvars.ContextVar("fz")
        self.tracer_calls = 0
        self.skip: set[str] = set()  # flags of KNOWN_BUGS to keep out
        self.tracer_raise_at = -1
        try:
            raise FzError("tb")
        except FzError as e:
            self.tb = e.__traceback__

    def rec(self, text: str) -> None:
        self.trace.append(text)

    def cur(self) -> str:
        return name(self.api.getcurrent())

    # -- the stream of operations
    def next_op(self):
        if self.pc >= len(self.ops):
            return None
        op = self.ops[self.pc]
        self.pc += 1
        return op

    def body(self, *args, **kwargs):
        """The run of every fuzzed greenlet: a loop over the shared stream."""
        me = self.cur()
        self.rec(f"run {me} args={norm(args)} kwargs={norm(kwargs)}")
        return self.loop(me)

    def loop(self, me: str):
        while True:
            op = self.next_op()
            if op is None:
                return ("end", me)
            i = self.pc - 1
            kind = op[0]
            if kind == "return" and me != "main":
                self.rec(f"#{i} {me} return {op[1]}")
                return ("ret", me, op[1])
            if kind == "raise" and me != "main":
                cls = self.exc_class(op[1])
                if cls is self.api.GreenletExit and self.exit_reaches_unstarted(
                    self.api.getcurrent().parent
                ):
                    self.rec(f"#{i} {me} skip raise (exit-to-unstarted)")
                    continue
                self.rec(f"#{i} {me} raise {op[1]}")
                raise cls("raised", op[2])
            try:
                self.do(i, op)
            except self.api.GreenletExit as e:
                self.rec(f"#{i} {me} got {norm(e)}")
                mode = self.modes.get(me, "reraise")
                if mode != "reraise" and "references have vanished" in str(e):
                    self.killed.add(me)
                if mode == "reraise":
                    raise
                if mode == "return":
                    return ("exit", me)
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                if isinstance(e, FzBase) and me != "main":
                    self.rec(f"#{i} {me} dies of {norm(e)}")
                    raise
                self.rec(f"#{i} {me} caught {norm(e)}")

    # -- helpers
    def exc_class(self, n: str):
        return {
            "FzError": FzError,
            "FzSub": FzSub,
            "FzBase": FzBase,
            "GreenletExit": self.api.GreenletExit,
            "ValueError": ValueError,
        }[n]

    def touch(self, g):
        """dead-thread-eager: ask a greenlet of an exited thread ``dead`` before anything else."""
        if g is not None and name(g) in self.foreign:
            g.dead  # noqa: B018
        return g

    def target(self, sel: str):
        api = self.api
        if sel == "main":
            return self.main
        if sel == "cur":
            return api.getcurrent()
        if sel == "par":
            return api.getcurrent().parent
        return self.touch(self.pool.get(int(sel[1:])))

    def started(self, g) -> bool:
        return bool(self.touch(g)) or g.dead

    def exit_reaches_unstarted(self, p) -> bool:
        """Whether a GreenletExit handed up to *p* (R6, R13) may land in an unstarted greenlet."""
        seen = 0
        while p is not None and seen < 100:
            self.touch(p)
            if not p.dead:
                return not bool(p)
            p = p.parent
            seen += 1
        return False

    def make_run(self, how: str):
        if how == "body":
            return self.body
        rec = self.rec
        cur = self.cur

        def ret(*args, **kwargs):
            rec(f"run-ret {cur()} args={norm(args)} kwargs={norm(kwargs)}")
            return ("ret-run", norm(args), norm(kwargs))

        return ret

    def tracer(self, event, args):
        self.tracer_calls += 1
        self.rec(f"trace {event} {name(args[0])}->{name(args[1])}")
        if self.tracer_calls == self.tracer_raise_at:
            raise FzError("tracer")

    def state(self, g) -> str:
        self.touch(g)
        dead = g.dead
        return (
            f"dead={dead} active={bool(g)} frame={g.gr_frame is not None} parent={name(g.parent)}"
        )

    # -- one operation
    def do(self, i: int, op: list) -> None:  # noqa: C901 - one branch per operation
        api = self.api
        kind = op[0]
        me = self.cur()
        rec = self.rec
        if kind == "new":
            _, slot, how, psel, mode = op
            parent = None if psel == "default" else self.target(psel)
            if me in self.killed or (parent is not None and name(parent) in self.killed):
                # second-kill: the new greenlet's parent (by default the
                # creator) would resurrect a greenlet that went on after its kill
                rec(f"#{i} {me} skip new (second-kill)")
                return
            self.count += 1
            nm = f"g{self.count}"
            kw = {} if parent is None else {"parent": parent}
            rec(f"#{i} {me} new {nm} {how} parent={name(parent) if parent is not None else '-'}")
            if how == "plain":
                g = api.greenlet(self.body, **kw)
            elif how == "plain_kw":
                g = api.greenlet(run=self.body, **kw)
            elif how == "sub":
                g = self.Sub(**kw)
            elif how == "sub_init":
                g = self.SubInit("tag", **kw)
            elif how == "norun":
                g = api.greenlet(**kw)
            elif how == "none_run":
                g = api.greenlet(None, **kw)
            elif how == "ret":
                g = api.greenlet(self.make_run("ret"), **kw)
            else:
                g = self.Bare(**kw)
            g.fz_name = nm
            self.modes[nm] = mode
            self.refs.append((nm, weakref.ref(g)))
            self.pool[slot] = g
            del g, parent, kw
        elif kind == "switch":
            _, sel, packing, v = op
            g = self.target(sel)
            if g is None:
                rec(f"#{i} {me} switch {sel}: empty")
                return
            args, kwargs = PACKINGS[packing](v)
            rec(f"#{i} {me} switch {name(g)} {packing}")
            sw = g.switch
            del g
            r = sw(*args, **kwargs)
            del sw
            rec(f"#{i} {me} <- {norm(r)}")
        elif kind == "throw":
            _, sel, form, cname, v = op
            g = self.target(sel)
            if g is None:
                rec(f"#{i} {me} throw {sel}: empty")
                return
            cls = self.exc_class(cname)
            gexit = form == "none" or (
                cls is api.GreenletExit and form not in ("inst_val", "not_exc", "bad_tb")
            )
            if gexit:
                # where the GreenletExit goes: g's first live ancestor if g is dead
                # (R13), else g's parent once g has died of it (R6, R12)
                start = g if g.dead else g.parent
                if g.dead or self.modes.get(name(g), "reraise") == "reraise" or not bool(g):
                    if self.exit_reaches_unstarted(start):
                        rec(f"#{i} {me} skip throw (exit-to-unstarted)")
                        return
            args = self.throw_args(form, cls, v)
            rec(f"#{i} {me} throw {name(g)} {form} {cname}")
            th = g.throw
            del g
            r = th(*args)
            del th, args
            rec(f"#{i} {me} <- {norm(r)}")
        elif kind == "drop":
            g = self.pool.pop(op[1], None)
            rec(f"#{i} {me} drop s{op[1]} {name(g)}")
            del g
            rec(f"#{i} {me} dropped")
        elif kind == "reparent":
            _, sel, psel = op
            g = self.target(sel)
            if g is None:
                rec(f"#{i} {me} reparent {sel}: empty")
                return
            if name(g) in self.foreign:
                rec(f"#{i} {me} skip reparent (dead-thread-restart)")
                return
            p = 5 if psel == "int" else None if psel == "none" else self.target(psel)
            if p is not None and p != 5 and name(p) in self.killed:
                rec(f"#{i} {me} skip reparent (second-kill)")
                return
            rec(f"#{i} {me} reparent {name(g)} to {norm(p)}")
            g.parent = p
            del g, p
        elif kind == "gc":
            gc.collect()
            rec(f"#{i} {me} gc alive={self.alive()}")
        elif kind == "settrace":
            how = op[1]
            if how == "off":
                prev = api.settrace(None)
            else:
                self.tracer_raise_at = self.tracer_calls + 2 if how == "raise2" else -1
                prev = api.settrace(self.tracer)
            rec(f"#{i} {me} settrace {how} prev={norm(prev)}")
        elif kind == "cvset":
            self.var.set(op[1])
            rec(f"#{i} {me} cvset {op[1]}")
        elif kind == "cvget":
            rec(f"#{i} {me} cvget {norm(self.var.get('unset'))}")
        elif kind == "cvctx":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} cvctx {op[1]}: empty")
                return
            rec(f"#{i} {me} cvctx {name(g)}")
            ctx = g.gr_context
            del g
            rec(f"#{i} {me} -> {'None' if ctx is None else norm(ctx.get(self.var, 'unset'))}")
        elif kind == "cvassign":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} cvassign {op[1]}: empty")
                return
            how = op[2]
            if how == "new":
                ctx = contextvars.Context()
                ctx.run(self.var.set, f"ctx{i}")
            elif how == "copy":
                ctx = contextvars.copy_context()
            elif how == "none":
                ctx = None
            else:
                ctx = {"not": "a context"}
            rec(f"#{i} {me} cvassign {name(g)} {how}")
            g.gr_context = ctx
            del g, ctx
        elif kind == "state":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} state {op[1]}: empty")
                return
            rec(f"#{i} {me} state {name(g)} {self.state(g)}")
        elif kind == "frame":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} frame {op[1]}: empty")
                return
            f = g.gr_frame
            rec(f"#{i} {me} frame {name(g)} {'None' if f is None else f.f_code.co_name}")
            del f, g
        elif kind == "run_get":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} run_get {op[1]}: empty")
                return
            if name(g) in self.foreign:
                rec(f"#{i} {me} skip run_get (dead-thread-restart)")
                return
            rec(f"#{i} {me} run_get {name(g)}")
            r = g.run
            rec(f"#{i} {me} -> {'body' if r == self.body else norm(r)}")
            del g, r
        elif kind == "run_set":
            g = self.target(op[1])
            if g is None:
                rec(f"#{i} {me} run_set {op[1]}: empty")
                return
            if name(g) in self.foreign:
                rec(f"#{i} {me} skip run_set (dead-thread-restart)")
                return
            rec(f"#{i} {me} run_set {name(g)} {op[2]}")
            g.run = self.make_run(op[2])
            del g
        elif kind in ("return", "raise"):
            rec(f"#{i} {me} {kind} in main: nothing")
        elif kind == "_skip":  # the known bugs to keep out (KNOWN_BUGS)
            self.skip.update(op[1:])
        elif kind == "_abort":  # only for the fuzzer's own test of crash reports
            os.abort()
        elif kind == "cur":
            g = api.getcurrent()
            rec(f"#{i} {me} cur={name(g)} parent={name(g.parent)}")
            del g
        elif kind == "thread":
            self.op_thread(i, me, op)
        elif kind == "xthread":
            self.op_xthread(i, me, op)
        else:  # pragma: no cover
            raise AssertionError(op)

    def throw_args(self, form: str, cls, v: int) -> tuple:
        if form == "none":
            return ()
        if form == "cls":
            return (cls,)
        if form == "cls_msg":
            return (cls, f"m{v}")
        if form == "cls_inst":
            return (cls, cls(f"i{v}"))
        if form == "inst":
            return (cls(f"i{v}"),)
        if form == "cls_tuple":
            return (cls, ("t", v))
        if form == "cls_none_tb":
            return (cls, None, self.tb)
        if form == "inst_none_tb":
            return (cls(f"i{v}"), None, self.tb)
        if form == "cls_none_none":
            return (cls, None, None)
        if form == "cls_other_inst":
            return (cls, KeyError(v))
        if form == "inst_val":
            return (cls(f"i{v}"), "val")
        if form == "not_exc":
            return (int,)
        return (cls, None, "not a traceback")

    def alive(self, live_only: bool = False) -> str:
        names = []
        for n, r in self.refs:
            g = r()
            if g is not None and not (live_only and not self.touch(g)):
                names.append(n)
            del g
        return ",".join(names) or "-"

    # -- the second thread
    def settle(self, nm: str) -> None:
        """After a join: wait until a greenlet left in the exited thread reads as dead.

        join() returns before the thread's state is gone; upstream notices the
        exit only then (dead-thread-eager), so poll ``dead`` (reading it is the
        documented way to make upstream notice) instead of racing it.
        """
        self.foreign.add(nm)
        for ref in (dict(self.refs)[nm], self.tmains[nm]):
            for _ in range(400):
                g = ref()
                done = g is None or g.dead
                del g
                if done:
                    break
                time.sleep(0.005)
            else:
                self.rec(f"{name(ref())} not dead 2 s after its thread ended")

    def op_thread(self, i: int, me: str, op: list) -> None:
        """A thread that makes a greenlet, leaves it finished or parked, and exits."""
        _, slot, how = op
        api, rec = self.api, self.rec
        self.count += 1
        nm = f"g{self.count}"
        self.nthreads += 1
        tm = f"t{self.nthreads}main"
        rec(f"#{i} {me} thread {nm} {how}")

        # dead-thread-finally: no finally block, only GreenletExit is caught
        def tbody(*args):
            rec(f"run {nm} in thread args={norm(args)}")
            if how == "park":
                api.getcurrent().parent.switch("parked")
            return "t-done"

        def main():
            api.getcurrent().fz_name = tm
            self.tmains[nm] = weakref.ref(api.getcurrent())
            g = api.greenlet(tbody)
            g.fz_name = nm
            self.modes[nm] = "reraise"
            self.refs.append((nm, weakref.ref(g)))
            self.pool[slot] = g
            sw = g.switch
            del g
            rec(f"{tm} <- {norm(sw('t'))}")
            del sw

        t = threading.Thread(target=main)
        t.start()
        t.join(20)
        self.settle(nm)
        rec(f"#{i} {me} thread joined")

    def op_xthread(self, i: int, me: str, op: list) -> None:
        """A live second thread with a parked greenlet; this thread acts on it, then it goes on."""
        _, slot, action, other = op
        api, rec = self.api, self.rec
        self.count += 1
        nm = f"g{self.count}"
        self.nthreads += 1
        tm = f"t{self.nthreads}main"
        rec(f"#{i} {me} xthread {nm} {action}")
        ready, go = threading.Event(), threading.Event()

        def tbody(*args):
            rec(f"run {nm} in thread args={norm(args)}")
            try:
                v = api.getcurrent().parent.switch("parked")
            except api.GreenletExit as e:
                rec(f"{nm} got {norm(e)}")
                raise
            rec(f"{nm} resumed {norm(v)}")
            return "t-done"

        def main():
            api.getcurrent().fz_name = tm
            self.tmains[nm] = weakref.ref(api.getcurrent())
            g = api.greenlet(tbody)
            g.fz_name = nm
            self.modes[nm] = "reraise"
            wr = weakref.ref(g)
            self.refs.append((nm, wr))
            self.pool[slot] = g
            sw = g.switch
            del g
            rec(f"{tm} <- {norm(sw('t'))}")
            del sw
            ready.set()
            go.wait(20)
            api.getcurrent()  # R26: greenlets dropped by the other thread are killed now
            g = wr()
            if g is not None and not g.dead:
                sw = g.switch
                del g
                rec(f"{tm} resume <- {norm(sw('again'))}")
                del sw
            g = None
            rec(f"{tm} ends")

        t = threading.Thread(target=main)
        t.start()
        try:
            ready.wait(20)
            g = self.pool.get(slot)
            try:
                if action == "switch":
                    g.switch("from main")
                elif action == "throw":
                    g.throw(FzError("x"))
                elif action == "reparent_mine":
                    mine = self.pool.get(other)
                    # dead-thread-restart: not a greenlet of an exited thread
                    if mine is not None and mine is not g and name(mine) not in self.foreign:
                        mine.parent = g
                    del mine
                elif action == "reparent_it":
                    g.parent = self.main
                elif action == "drop":
                    self.pool.pop(slot, None)
                elif action == "state":
                    rec(f"#{i} {me} xstate {name(g)} {self.state(g)}")
            except Exception as e:
                rec(f"#{i} {me} xthread {action} raised {norm(e)}")
            del g
        finally:
            go.set()
            t.join(20)
        self.settle(nm)
        rec(f"#{i} {me} xthread joined")

    # -- a whole program
    def run(self) -> list[str]:
        api = self.api
        self.main = api.getcurrent()
        self.main.fz_name = "main"
        self.modes["main"] = "continue"
        prog = self

        class Sub(api.greenlet):
            def run(self, *args, **kwargs):
                return prog.body(*args, **kwargs)

        class SubInit(Sub):
            def __init__(self, tag, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fz_tag = tag

        class Bare(api.greenlet):
            pass

        self.Sub, self.SubInit, self.Bare = Sub, SubInit, Bare
        try:
            r = self.loop("main")
            self.rec(f"main loop -> {norm(r)}")
            api.settrace(None)
            for slot in sorted(self.pool):
                g = self.pool[slot]
                self.rec(f"final s{slot} {name(g)} {self.state(g)}")
                del g
            for slot in sorted(self.pool):
                g = self.pool.pop(slot)
                self.rec(f"final drop {name(g)}")
                del g
            self.rec(f"after drops alive={self.alive()}")
            gc.collect()
            self.rec(f"after gc alive={self.alive()}")
        finally:
            api.settrace(None)
            self.pool.clear()
        return self.trace


def unraisable(args) -> None:
    prog = _CURRENT
    if prog is not None:
        prog.rec(f"unraisable {norm(args.exc_value)} obj={norm(args.object)}")


_CURRENT = None


def worker(backend: str) -> None:
    """Read programs (JSON lines) from stdin, write one JSON line of results per program."""
    global _API, _CURRENT
    _API = suite_conftest().load_api(backend)
    sys.unraisablehook = unraisable
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        gc.collect()
        gc.disable()
        prog = _CURRENT = _Program(_API, req["ops"])
        try:
            trace = prog.run()
            err = None
        except BaseException as e:  # the interpreter itself failed: a finding too
            trace, err = prog.trace, f"{type(e).__name__}: {e}"
        finally:
            _CURRENT = None
            gc.enable()
        del prog
        out.write(json.dumps({"id": req["id"], "trace": trace, "error": err}) + "\n")
        out.flush()


# --------------------------------------------------------------------------
# The driver


def _env(backend: str) -> dict:
    import pygreenlet

    here = os.path.dirname(os.path.dirname(os.path.abspath(pygreenlet.__file__)))
    env = dict(os.environ, PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [here, env.get("PYTHONPATH", "")] if p)
    return env


def run_backend(backend: str, programs: list, timeout: float = 20.0) -> dict:
    """Run *programs* ([(id, ops)]) on *backend*; id -> {"trace", "error"} or {"crash"}.

    One worker runs many programs; when it dies or hangs, the program it was
    running is recorded as a crash (with the end of its stderr) and a new
    worker goes on with the next one.
    """
    results: dict = {}
    todo = list(programs)
    while todo:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(backend),
            text=True,
        )
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        errbuf: list[str] = []

        def drain(proc=proc, errbuf=errbuf):
            for line in proc.stderr:
                errbuf.append(line)

        et = threading.Thread(target=drain, daemon=True)
        et.start()
        while todo:
            pid, ops = todo[0]
            try:
                proc.stdin.write(json.dumps({"id": pid, "ops": ops}) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                line = ""
            else:
                deadline = time.monotonic() + timeout
                line = None
                while line is None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not sel.select(left):
                        if time.monotonic() >= deadline:
                            break
                        continue
                    line = proc.stdout.readline()
            if line:
                todo.pop(0)
                res = json.loads(line)
                results[res["id"]] = {"trace": res["trace"], "error": res["error"]}
                continue
            # crashed (EOF) or hung (no line): record it and start a new worker
            hung = line is None
            if hung:
                proc.kill()
            proc.wait()
            et.join(5)
            todo.pop(0)
            what = "hang" if hung else f"exit {proc.returncode}"
            tail = "".join(errbuf)[-3000:]
            results[pid] = {"crash": what, "stderr": tail}
            break
        else:
            proc.stdin.close()
            proc.wait(30)
        sel.close()
        et.join(5)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:  # the pipe to a dead worker
                pass
    return results


def outcome(res: dict) -> list[str]:
    """The comparable text of one program's result on one backend."""
    if "crash" in res:
        return [f"CRASH {res['crash']}"]
    out = list(res["trace"])
    if res["error"]:
        out.append(f"INTERPRETER ERROR {res['error']}")
    return out


def diff_kind(a: list[str], b: list[str]) -> str:
    """A short name for where two traces first differ (the operation or event kind)."""
    for x, y in zip(a, b):
        if x != y:
            line = x
            break
    else:
        line = (a if len(a) > len(b) else b)[min(len(a), len(b))]
    words = line.split()
    if not words:
        return "?"
    if words[0].startswith("#") and len(words) > 2:
        return words[2].rstrip(":")
    return words[0]


def short_diff(a: list[str], b: list[str], na: str, nb: str, limit: int = 40) -> str:
    lines = list(difflib.unified_diff(a, b, na, nb, n=3, lineterm=""))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


def suite_conftest():
    """tests/conftest.py, loaded by its path (other conftest modules may be ``conftest``)."""
    import importlib.util

    mod = sys.modules.get("_pygreenlet_suite_conftest")
    if mod is None:
        spec = importlib.util.spec_from_file_location(
            "_pygreenlet_suite_conftest", os.path.join(HERE, "conftest.py")
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return mod


def available_backends() -> list[str]:
    """The backends the suite tests ($PYGREENLET_TEST_BACKENDS, see tests/conftest.py)."""
    return suite_conftest().expected_backends()


def compare(results: dict, backends: list[str]) -> list[dict]:
    """Findings: crashes on any backend, and traces that differ from the first backend's.

    The first backend is the oracle: upstream when it is in *backends*.
    """
    findings = []
    ref = backends[0]
    ids = sorted(results[ref])
    for pid in ids:
        base = outcome(results[ref][pid])
        for b in backends:
            res = results[b][pid]
            if "crash" in res or res.get("error"):
                findings.append(
                    {
                        "id": pid,
                        "backend": b,
                        "kind": "crash" if "crash" in res else "interpreter-error",
                        "detail": res.get("crash") or res.get("error"),
                        "stderr": res.get("stderr", ""),
                    }
                )
                continue
            if b == ref:
                continue
            other = outcome(res)
            if other != base and "crash" not in results[ref][pid]:
                findings.append(
                    {
                        "id": pid,
                        "backend": b,
                        "against": ref,
                        "kind": "divergence:" + diff_kind(base, other),
                        "diff": short_diff(base, other, ref, b),
                    }
                )
    return findings


def order(backends: list[str]) -> list[str]:
    """The oracle first: upstream if present."""
    return sorted(backends, key=lambda b: b != "upstream")


def run_seeds(seeds, backends: list[str], jobs: int = 1, sample: bool = False):
    """Generate and run the programs of *seeds* on *backends*; (results, findings, events)."""
    programs = [(s, generate(s, sample=sample)) for s in seeds]
    backends = order(backends)
    results: dict = {}
    if jobs > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as ex:
            futs = {b: ex.submit(run_backend, b, programs) for b in backends}
            results = {b: f.result() for b, f in futs.items()}
    else:
        results = {b: run_backend(b, programs) for b in backends}
    events = {b: sum(len(r.get("trace", ())) for r in results[b].values()) for b in backends}
    return results, compare(results, backends), events


def format_program(ops: list) -> str:
    return "\n".join(f"{i:3d} {json.dumps(op)}" for i, op in enumerate(ops))


def reduce(ops: list, backends: list[str], still_fails) -> list:
    """Remove operations while *still_fails(findings)* holds (greedy, chunks then single ops)."""
    backends = order(backends)
    head = [op for op in ops[:1] if op[0] == "_skip"]  # the KNOWN_BUGS flags stay
    ops = ops[len(head) :]

    def fails(cand):
        res = {b: run_backend(b, [(0, head + cand)]) for b in backends}
        return still_fails(compare(res, backends))

    chunk = max(1, len(ops) // 2)
    while chunk >= 1:
        i = 0
        while i < len(ops):
            cand = ops[:i] + ops[i + chunk :]
            if cand and fails(cand):
                ops = cand
            else:
                i += chunk
        chunk //= 2
    return head + ops


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        sys.exit("usage: _fuzz.py --worker BACKEND (the driver is tools/fuzz.py)")
