"""Code that runs in the middle of a switch and switches itself.

See docs/internals/hazards.rst: GC during a switch, re-entrant switches.

Finalizers and weakref callbacks run by a GC that an allocation inside a
switch triggered, greenlet trace functions, and a ``run`` lookup that starts
the very greenlet being started: each of them switches to other greenlets
(parked deep in C callbacks) and back.  Everything runs in a subprocess whose
exit status and exact output are checked.
"""

from __future__ import annotations


def _check(proc, expected_stdout: str) -> None:
    """The script exited with 0, printed exactly *expected_stdout* and nothing on stderr."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert proc.stderr == "", proc.stderr[-4000:]
    assert proc.stdout == expected_stdout, proc.stdout[-4000:]


# A helper greenlet that anyone may switch to with (who, value): it answers
# who.switch(("h", value)); and workers parked inside nested C callbacks.
HELPER = """
import faulthandler, functools
faulthandler.dump_traceback_later(100, exit=True)  # a hang fails with tracebacks, not a timeout
main = getcurrent()
helper_calls = [0]

def helper_run(arg):
    while True:
        who, value = arg
        helper_calls[0] += 1
        arg = who.switch(("h", value))

helper = greenlet(helper_run)

def via_helper(value):
    # switch to the helper and back; a switch to oneself just returns its arguments
    me = getcurrent()
    if me is helper:
        return ("h", value)
    return helper.switch((me, value))

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

        assert sorted([1, 0], key=key) == [0, 1]
        return box[0]
    return functools.reduce(lambda acc, _: c_nest(n - 1, fn), [0], None)
"""


def test_R23_switches_in_del_and_weakref_callbacks_during_gc_mid_switch(run_script):
    # gc.set_threshold(1): nearly every allocation, including those made while
    # a switch is in flight (payload tuples, stacklets, frame objects), runs a
    # collection.  The garbage has finalizers and weakref callbacks that switch
    # to the helper and back, and holds suspended greenlets that are killed.
    proc = run_script(
        HELPER
        + """
import gc, weakref
log = {"del": 0, "weakref": 0, "killed": 0, "bad": []}

class Target:
    pass

live_refs = set()  # weakrefs must outlive their referents for the callbacks to run

def watch(obj, tag, log=log):
    def on_collected(ref):
        live_refs.discard(ref)
        r = via_helper(("wr", tag))
        if r != ("h", ("wr", tag)):
            log["bad"].append(r)
        log["weakref"] += 1
    live_refs.add(weakref.ref(obj, on_collected))

class Cyclic:
    def __init__(self, tag):
        self.me = self
        self.tag = tag
        self.target = Target()
        self.target.back = self
        watch(self.target, tag)

    def __del__(self, log=log):
        r = via_helper(("del", self.tag))
        if r != ("h", ("del", self.tag)):
            log["bad"].append(r)
        log["del"] += 1

def doomed(log=log):
    try:
        getcurrent().parent.switch("parked")
    except GreenletExit:
        # Not via the helper: a kill run by a GC inside the helper suspends the
        # helper in that kill, and a switch to it would only end the kill.
        # A new greenlet, started and finished here, returns to us.
        assert greenlet(lambda: c_nest(3, lambda: "child")).switch() == "child"
        log["killed"] += 1
        raise

def worker(tag, n):
    total = 0
    for i in range(n):
        Cyclic((tag, i))
        if i % 5 == 0:
            g = greenlet(doomed)
            c = Cyclic((tag, i, "g"))
            c.g = g
            del c
            assert g.switch() == "parked"
            del g
        got = c_nest(4, lambda: main.switch((tag, i)))
        if not isinstance(got, int):
            # a value meant for another switch arrived here: the run cannot go on
            sys.stderr.write("misrouted: worker %r got %r\\n" % (tag, got))
            sys.stderr.flush()
            os._exit(3)
        total += got
    return total

via_helper("prime")
gc.collect()
gc.set_threshold(1, 1, 1)
N, W = 300, 4
ws = [greenlet(worker) for _ in range(W)]
said = [w.switch(t, N) for t, w in enumerate(ws)]
rounds = 0
while any(not w.dead for w in ws):
    for t, w in enumerate(ws):
        if w.dead:
            continue
        assert said[t] == (t, rounds), (said[t], t, rounds)
        Cyclic(("main", t, rounds))
        said[t] = w.switch(rounds * 10 + t)
    rounds += 1
gc.set_threshold(700, 10, 10)
for _ in range(3):
    gc.collect()
getcurrent()  # kills deferred from collections that ran mid-switch
gc.collect()
assert said == [sum(r * 10 + t for r in range(N)) for t in range(W)], said
created = W * N + W * N + W * (N // 5)  # worker objects, main objects, greenlet holders
assert log["bad"] == [], log["bad"][:5]
assert log["del"] == created, (log["del"], created)
assert log["weakref"] == created, (log["weakref"], created)
assert log["killed"] == W * (N // 5), log["killed"]
assert helper_calls[0] >= created, helper_calls[0]
assert not live_refs
print("ok", rounds)
""",
        timeout=180,
    )
    _check(proc, "ok 300\n")


def test_R23_finalizer_run_mid_switch_sees_the_running_greenlet(run_script):
    # Cyclic garbage whose finalizer leaves a new piece of garbage behind, so
    # that every collection (one every other allocation) runs a finalizer,
    # including collections triggered by allocations inside a switch.  The
    # finalizer must see getcurrent() as the greenlet it really runs in (found
    # by walking its frames to the bottom one), never the switch's target.
    proc = run_script(
        """
import gc
main = getcurrent()
seen = {"main": 0, "g": 0, "wrong": []}
active = [True]

def really_in():
    f = sys._getframe(2)
    while f.f_back is not None:
        f = f.f_back
    return "main" if f.f_code.co_name == "<module>" else "g"

class D:
    def __init__(self):
        self.me = self
    def __del__(self):
        if not active[0]:
            return
        believed = "main" if getcurrent() is main else "g"
        real = really_in()
        seen[real] += 1
        if believed != real:
            seen["wrong"].append((believed, real))
        D()

keep = []

class Junk:
    pass

def hop(target, n):
    # kept allocations start collections; a fresh frame that switches makes
    # the switch itself allocate (its frame object), so some start in there
    for _ in range(n):
        keep.append(Junk())
    target.switch()

def run_g():
    i = 0
    while True:
        i += 1
        hop(main, i % 3)

g = greenlet(run_g)
g.switch()
D()
gc.set_threshold(1, 1, 1)
for i in range(1000):  # (a collection per allocation: slow on 3.14's debug build)
    hop(g, i % 5)
gc.set_threshold(700, 10, 10)
active[0] = False
gc.collect()
assert seen["main"] > 100 and seen["g"] > 100, seen
print("wrong:", len(seen["wrong"]), seen["wrong"][:3])
"""
    )
    _check(proc, "wrong: 0 []\n")


def test_R23_gc_callbacks_switch_while_deep_greenlets_interleave(run_script):
    # Garbage whose finalizer switches into a *deep* parked greenlet (not only
    # the shallow helper), collected while two other deep greenlets ping-pong.
    proc = run_script(
        HELPER
        + """
import gc
class Junk:
    def __init__(self):
        self.me = self
    def __del__(self):
        me = getcurrent()
        if me is not deep_sink:
            got.append(deep_sink.switch(me))

got = []

def sink_body():
    who = main.switch("sink ready")
    while True:
        who = who.switch(("sink", len(got)))

deep_sink = greenlet(lambda: c_nest(40, sink_body))
assert deep_sink.switch() == "sink ready"

def pinger(tag):
    def body():
        v = 0
        for i in range(400):
            Junk()
            v += main.switch((tag, i))
        return v
    return c_nest(25, body)

gc.collect()
gc.set_threshold(1, 1, 1)
p, q = greenlet(pinger), greenlet(pinger)
assert p.switch("p") == ("p", 0) and q.switch("q") == ("q", 0)
for i in range(1, 400):
    assert p.switch(i) == ("p", i)
    assert q.switch(-i) == ("q", i)
rp, rq = p.switch(400), q.switch(-400)
gc.set_threshold(700, 10, 10)
gc.collect()
assert rp == sum(range(1, 401)) and rq == -sum(range(1, 401)), (rp, rq)
assert got == [("sink", i) for i in range(len(got))], got[:5]
assert len(got) >= 800, len(got)
print("ok")
""",
        timeout=120,
    )
    _check(proc, "ok\n")


# --------------------------------------------------------------------------------------
# R28: a greenlet trace function that switches
# --------------------------------------------------------------------------------------


def test_R28_tracer_switches_to_another_greenlet_and_back(run_script):
    proc = run_script(
        HELPER
        + """
names = {}
def name(g):
    return names.get(id(g), "?")

events = []
busy = [False]

def tracer(event, args):
    origin, target = args
    if busy[0]:
        events.append(("nested", event, name(origin), name(target)))
        return
    busy[0] = True
    try:
        events.append((event, name(origin), name(target)))
        n = len(events)
        r = via_helper(n)
        assert r == ("h", n), r
    finally:
        busy[0] = False

class Boom(Exception):
    pass

def worker(tag):
    def body():
        v = main.switch((tag, 1))
        try:
            main.switch((tag, 2))
        except Boom:
            v += 100
        return v
    return c_nest(10, body)

a, b = greenlet(worker), greenlet(worker)
names.update({id(main): "main", id(helper): "helper", id(a): "a", id(b): "b"})
via_helper("prime")  # start the helper before tracing
api.settrace(tracer)
try:
    r = [a.switch("a"), b.switch("b"), a.switch(5), b.switch(6)]
    r.append(a.throw(Boom))
    r.append(b.throw(Boom))
finally:
    api.settrace(None)
assert r == [("a", 1), ("b", 1), ("a", 2), ("b", 2), 105, 106], r
top = [e for e in events if e[0] != "nested"]
assert top == [
    ("switch", "main", "a"), ("switch", "a", "main"),
    ("switch", "main", "b"), ("switch", "b", "main"),
    ("switch", "main", "a"), ("switch", "a", "main"),
    ("switch", "main", "b"), ("switch", "b", "main"),
    ("throw", "main", "a"), ("switch", "a", "main"),
    ("throw", "main", "b"), ("switch", "b", "main"),
], top
# each traced switch made two more, both traced (re-entrantly)
for i, e in enumerate(events):
    if e[0] != "nested":
        assert events[i + 1][1:] == ("switch", e[2], "helper"), events[i:i + 3]
        assert events[i + 2][1:] == ("switch", "helper", e[2]), events[i:i + 3]
assert len(events) == 3 * len(top)
print("ok", len(events))
"""
    )
    _check(proc, "ok 36\n")


def test_R28_tracer_switching_under_stress(run_script):
    # Many traced switches between deep greenlets; the tracer itself switches
    # into a deep greenlet every time.  Values and counts must be exact.
    proc = run_script(
        HELPER
        + """
count = [0]
busy = [False]
def deep_echo_body():
    who = main.switch("echo ready")
    while True:
        who, v = who
        who = who.switch(v + 1)
echo = greenlet(lambda: c_nest(30, deep_echo_body))
assert echo.switch() == "echo ready"

def tracer(event, args):
    if busy[0] or getcurrent() is echo:
        return
    busy[0] = True
    try:
        count[0] += 1
        assert echo.switch((getcurrent(), count[0])) == count[0] + 1
    finally:
        busy[0] = False

def worker(tag):
    def body():
        total = 0
        for i in range(500):
            total += main.switch((tag, i))
        return total
    return c_nest(15, body)

ws = [greenlet(worker) for _ in range(3)]
api.settrace(tracer)
try:
    said = [w.switch(t) for t, w in enumerate(ws)]
    for i in range(1, 500):
        for t, w in enumerate(ws):
            assert said[t] == (t, i - 1), said[t]
            said[t] = w.switch(i * t)
    said = [w.switch(0) for w in ws]
finally:
    api.settrace(None)
assert said == [sum(i * t for i in range(1, 500)) for t in range(3)], said
assert count[0] == 2 * 3 * 501, count[0]
print("ok")
""",
        timeout=120,
    )
    _check(proc, "ok\n")


# --------------------------------------------------------------------------------------
# R43: a greenlet started re-entrantly while its run is being looked up
# --------------------------------------------------------------------------------------


def test_R43_reentrant_start_during_run_lookup_deep(run_script):
    # The first switch to X happens deep in C callbacks; X's run lookup
    # switches into X itself (starting it), X's run goes deep, visits another
    # deep greenlet and comes back; the outer start becomes an ordinary switch.
    proc = run_script(
        HELPER
        + """
log = []

class X(greenlet):
    looked_up = False

    def __getattribute__(self, name):
        if name == "run" and not object.__getattribute__(self, "looked_up"):
            self.looked_up = True
            log.append(("lookup: inner switch got", c_nest(7, lambda: self.switch("inner"))))
        return greenlet.__getattribute__(self, name)

    def run(self, value):
        log.append(("run", value))
        def body():
            v = other.switch("from x")
            log.append(("x got", v))
            v = self.parent.switch(("x parked", v))
            log.append(("x resumed", v))
            return ("x done", v)
        return c_nest(12, body)

def other_body():
    v = main.switch("other ready")
    while True:
        v = x.switch(("other", v))

other = greenlet(lambda: c_nest(20, other_body))
assert other.switch() == "other ready"
x = X()
r = c_nest(9, lambda: x.switch("outer"))
assert r == ("x done", "outer"), r
assert log == [
    ("run", "inner"),
    ("x got", ("other", "from x")),
    ("lookup: inner switch got", ("x parked", ("other", "from x"))),
    ("x resumed", "outer"),
], log
assert x.dead and x._stack_saved == 0
assert not other.dead
other.throw()
assert other.dead
print("ok")
"""
    )
    _check(proc, "ok\n")


def test_R43_reentrant_start_many_times(run_script):
    # The same pattern in a loop, with the lookup switching through the helper
    # too; every greenlet runs exactly once.
    proc = run_script(
        HELPER
        + """
runs = []

class Y(greenlet):
    def __init__(self, i):
        greenlet.__init__(self)
        self.i = i
        self.lookups = 0

    def __getattribute__(self, name):
        if name == "run" and object.__getattribute__(self, "lookups") == 0:
            self.lookups = 1
            assert via_helper(self.i) == ("h", self.i)
            assert c_nest(3, lambda: self.switch("inner")) == ("parked", self.i)
        return greenlet.__getattribute__(self, name)

    def run(self, value):
        runs.append((self.i, value))
        v = self.parent.switch(("parked", self.i))
        return (self.i, v)

for i in range(500):
    y = Y(i)
    assert c_nest(5, lambda: y.switch("outer")) == (i, "outer")
    assert y.dead
assert runs == [(i, "inner") for i in range(500)], runs[:3]
print("ok")
"""
    )
    _check(proc, "ok\n")
