"""gevent from its binary wheel, with its compiled modules: they use greenlet's C API.

gevent's Cython modules (``gevent._gevent_cgreenlet`` and the rest) import
``greenlet._C_API`` and subclass the greenlet type in C; this workload checks
that they are the ones loaded, then uses gevent as applications do, after
``monkey.patch_all()``: greenlets, pools, queues, events, timeouts, kills,
joins, links, monkey-patched threads, a StreamServer and a WSGI server on
127.0.0.1 with concurrent clients.  Every loop is bounded.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

from _which_greenlet import check_greenlet, done, report  # noqa: E402

greenlet = check_greenlet()

import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.local  # noqa: E402
import gevent.lock  # noqa: E402
import gevent.pool  # noqa: E402
import gevent.pywsgi  # noqa: E402
import gevent.queue  # noqa: E402
import gevent.server  # noqa: E402
from gevent import GreenletExit  # noqa: E402

#: gevent's compiled modules that must be loaded (none may fall back to pure Python).
COMPILED = [
    "gevent._gevent_cgreenlet",
    "gevent._gevent_c_greenlet_primitives",
    "gevent._gevent_c_hub_local",
    "gevent._gevent_c_hub_primitives",
    "gevent._gevent_c_waiter",
    "gevent._gevent_c_abstract_linkable",
    "gevent._gevent_c_ident",
    "gevent._gevent_cevent",
    "gevent._gevent_cqueue",
    "gevent._gevent_c_semaphore",
    "gevent._gevent_c_imap",
    "gevent._gevent_clocal",
    "gevent.libev.corecext",
]


class Stop(Exception):
    """A custom exception that kills a greenlet."""


def compiled() -> None:
    missing = [name for name in COMPILED if name not in sys.modules]
    assert not missing, "gevent's compiled modules are not loaded: %s" % (missing,)
    for name in COMPILED:
        assert sys.modules[name].__file__.endswith(".so"), sys.modules[name].__file__
    cgreenlet = sys.modules["gevent._gevent_cgreenlet"]
    assert gevent.Greenlet is cgreenlet.Greenlet, gevent.Greenlet
    assert gevent.event.Event is sys.modules["gevent._gevent_cevent"].Event
    assert gevent.queue.Queue is sys.modules["gevent._gevent_cqueue"].Queue
    assert gevent.local.local is sys.modules["gevent._gevent_clocal"].local
    # the C API gevent was given is that of the greenlet module in use
    assert type(greenlet._C_API).__name__ == "PyCapsule", greenlet._C_API
    assert issubclass(gevent.Greenlet, greenlet.greenlet), gevent.Greenlet.__mro__
    hub = gevent.get_hub()
    assert isinstance(hub, greenlet.greenlet), type(hub).__mro__
    assert GreenletExit is greenlet.GreenletExit
    assert greenlet.greenlet in type(hub).__mro__, type(hub).__mro__
    seen = []

    def who() -> None:
        current = greenlet.getcurrent()
        seen.append([current is g, gevent.getcurrent() is g, current.parent is hub])

    g = gevent.spawn(who)
    g.join()
    report("compiled", [seen, type(hub.loop).__module__, gevent.config.loop.__module__])


def sleeping() -> None:
    order = []

    def sleeper(tag: str, seconds: float) -> None:
        gevent.sleep(seconds)
        order.append(tag)

    gevent.joinall(
        [gevent.spawn(sleeper, t, s) for t, s in (("c", 0.06), ("a", 0.02), ("b", 0.04))]
    )
    log = []

    def stepper(tag: str) -> None:
        for i in range(3):
            log.append("%s%d" % (tag, i))
            gevent.sleep(0)

    gevent.joinall([gevent.spawn(stepper, t) for t in "xyz"])
    fired = []
    start = time.monotonic()
    later = [
        gevent.spawn_later(d, lambda t=t: fired.append([t, time.monotonic() - start >= 0.009]))
        for t, d in (("late", 0.05), ("early", 0.01), ("middle", 0.03))
    ]
    gevent.joinall(later)
    report("sleep", [order, log, fired])


def pools() -> None:
    pool = gevent.pool.Pool(3)
    running = [0, 0]

    def job(n: int) -> int:
        running[0] += 1
        running[1] = max(running)
        gevent.sleep(0.002 * (n % 3))
        running[0] -= 1
        return n * n

    mapped = pool.map(job, range(10))
    unordered = list(pool.imap_unordered(job, range(10)))
    ordered = list(pool.imap(job, range(5)))
    spawned = [pool.spawn(job, n) for n in range(4)]
    pool.join()
    report(
        "pools",
        [
            mapped,
            sorted(unordered),
            ordered,
            [g.value for g in spawned],
            running[1],
            len(pool),
            pool.free_count(),
        ],
    )


def queues() -> None:
    q = gevent.queue.Queue(maxsize=2)
    consumed = {"c1": [], "c2": []}

    def producer() -> None:
        for i in range(20):
            q.put(i)
        for _ in consumed:
            q.put(StopIteration)

    def consumer(name: str) -> None:
        for item in q:  # ends at StopIteration
            consumed[name].append(item)
            gevent.sleep(0)

    gevent.joinall(
        [gevent.spawn(producer)] + [gevent.spawn(consumer, n) for n in consumed], raise_error=True
    )
    jobs = gevent.queue.JoinableQueue()
    handled = []

    def worker() -> None:
        for _ in range(5):
            handled.append(jobs.get())
            jobs.task_done()

    for i in range(5):
        jobs.put(i)
    gevent.spawn(worker)
    jobs.join(timeout=5)
    try:
        gevent.queue.Queue().get(timeout=0.01)
    except gevent.queue.Empty:
        empty = True
    items = sorted(consumed["c1"] + consumed["c2"])
    report("queues", [items, all(consumed.values()), handled, empty])


def events() -> None:
    event = gevent.event.Event()
    woke = []

    def waiter(i: int) -> None:
        woke.append([i, event.wait(timeout=5)])

    waiters = [gevent.spawn(waiter, i) for i in range(4)]
    gevent.sleep(0.01)
    before = len(woke)
    event.set()
    gevent.joinall(waiters)
    not_set = gevent.event.Event().wait(timeout=0.01)
    value = gevent.event.AsyncResult()
    gevent.spawn_later(0.01, value.set, "the value")
    failing = gevent.event.AsyncResult()
    gevent.spawn_later(0.01, failing.set_exception, KeyError("bad key"))
    try:
        failing.get(timeout=5)
    except KeyError as e:
        error = [type(e).__name__, e.args[0]]
    try:
        gevent.event.AsyncResult().get(timeout=0.01)
    except gevent.Timeout:
        timed_out = True
    report("events", [before, sorted(woke), not_set, value.get(timeout=5), error, timed_out])


def timeouts() -> None:
    start = time.monotonic()
    with gevent.Timeout(0.02, False):
        gevent.sleep(5)
    silent = time.monotonic() - start < 2
    try:
        with gevent.Timeout(0.02) as t:
            gevent.sleep(5)
    except gevent.Timeout as e:
        raised = e is t
    try:
        with gevent.Timeout(0.02, Stop("too slow")):
            gevent.sleep(5)
    except Stop as e:
        custom = str(e)
    fallback = gevent.with_timeout(0.02, gevent.sleep, 5, timeout_value="fallback")

    def guarded() -> None:
        timeout = gevent.Timeout.start_new(0.01)
        try:
            gevent.sleep(5)
        finally:
            timeout.cancel()

    g = gevent.spawn(guarded)
    g.join(timeout=5)
    report(
        "timeouts",
        [silent, raised, custom, fallback, type(g.exception).__name__, g.successful()],
    )


def kills() -> None:
    log = []

    def forever(name: str) -> None:
        try:
            for _ in range(2000):
                gevent.sleep(0.005)
        except GreenletExit:
            log.append(name + ":exit")
            raise
        except Stop as e:
            log.append("%s:stop:%s" % (name, e))
            raise
        finally:
            log.append(name + ":finally")

    def stubborn() -> str:
        try:
            gevent.sleep(5)
        except GreenletExit:
            return "cleaned up"
        return "not killed"

    g1, g2, g3, g4, g5 = (gevent.spawn(forever, n) for n in ("g1", "g2", "g3", "g4", "g5"))
    gevent.sleep(0.02)
    g1.kill()
    gevent.kill(g2, Stop("now"))
    g2.join(timeout=5)
    g3.kill(Stop("not blocking"), block=False)
    g3.join(timeout=5)
    gevent.killall([g4, g5], exception=Stop)
    unstarted = gevent.spawn(forever, "never")
    unstarted.kill()
    g6 = gevent.spawn(stubborn)
    gevent.sleep(0)
    g6.kill()
    outcomes = []
    for g in (g1, g2, g3, g4, g5, unstarted, g6):
        outcomes.append(
            [g.dead, g.successful(), type(g.exception).__name__, type(g.value).__name__]
        )
    report("kills", [outcomes, str(g2.exception), g6.value, sorted(log)])


def joins_and_links() -> None:
    quick = gevent.spawn(gevent.sleep, 0.01)
    slow = gevent.spawn(gevent.sleep, 5)
    finished = gevent.joinall([quick, slow], timeout=0.5)
    slow_was_running = not slow.dead
    slow.kill()

    def fails() -> None:
        gevent.sleep(0)
        raise ValueError("from a greenlet")

    try:
        gevent.joinall([gevent.spawn(gevent.sleep, 0), gevent.spawn(fails)], raise_error=True)
    except ValueError as e:
        raised = str(e)
    events = []
    ok = gevent.Greenlet(lambda: 42)
    ok.link_value(lambda g: events.append(["ok value", g.value]))
    ok.link_exception(lambda g: events.append(["ok exception (wrong)", None]))
    bad = gevent.Greenlet(fails)
    bad.link_exception(lambda g: events.append(["bad exception", type(g.exception).__name__]))
    bad.link_value(lambda g: events.append(["bad value (wrong)", None]))
    ok.link(lambda g: events.append(["ok link", g.successful()]))
    bad.link(lambda g: events.append(["bad link", g.successful()]))
    ok.start()
    bad.start()
    gevent.joinall([ok, bad])
    gevent.sleep(0.01)  # links run from the hub after the greenlets end
    report(
        "joins_links",
        [finished == [quick], slow_was_running, slow.dead, raised, sorted(events)],
    )


def patched_threads() -> None:
    assert monkey.is_module_patched("threading") and monkey.is_module_patched("socket")
    local = threading.local()
    assert isinstance(local, gevent.local.local), type(local)
    seen = []
    idents = set()

    def worker(i: int) -> None:
        local.value = i
        time.sleep(0.005)  # patched: cooperative
        seen.append([i, local.value])
        idents.add(threading.get_ident())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    lock = threading.Lock()
    with lock:
        locked = lock.locked()
    # a blocking call in a real OS thread of gevent's pool
    real_ident = gevent.get_hub().threadpool.apply(monkey.get_original("threading", "get_ident"))
    report(
        "threads",
        [sorted(seen), len(idents), locked, isinstance(real_ident, int), not any(idents & {0})],
    )


def echo_server() -> None:
    conns = [0, 0]

    def handle(sock, addr) -> None:
        conns[0] += 1
        conns[1] = max(conns)
        f = sock.makefile("rwb")
        try:
            for _ in range(10):
                line = f.readline()
                if not line or line.strip() == b"bye":
                    break
                f.write(line.upper())
                f.flush()
        finally:
            f.close()
            conns[0] -= 1

    # with a pool, stop() waits for the handlers to end
    server = gevent.server.StreamServer(("127.0.0.1", 0), handle, spawn=gevent.pool.Pool(20))
    server.start()
    port = server.server_port

    def client(i: int) -> list:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            f = sock.makefile("rwb")
            replies = []
            for k in range(3):
                f.write(b"client %d message %d\n" % (i, k))
                f.flush()
                replies.append(f.readline().decode().strip())
                gevent.sleep(0.005)
            f.write(b"bye\n")
            f.flush()
            f.close()
        return replies

    with gevent.Timeout(20):
        clients = [gevent.spawn(client, i) for i in range(8)]
        gevent.joinall(clients, raise_error=True)
    server.stop(timeout=5)
    report("echo", [[g.value for g in clients], conns[1] > 1, conns[0]])


def wsgi_server() -> None:
    inflight = [0, 0]

    def app(environ, start_response):
        inflight[0] += 1
        inflight[1] = max(inflight)
        gevent.sleep(0.02)
        inflight[0] -= 1
        body = json.dumps({"path": environ["PATH_INFO"], "query": environ["QUERY_STRING"]})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]

    server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    port = server.server_port
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only

    def fetch(i: int) -> list:
        url = "http://127.0.0.1:%d/item/%d?n=%d" % (port, i, i)
        with opener.open(url, timeout=5) as response:
            return [response.status, json.loads(response.read())]

    with gevent.Timeout(20):
        fetches = [gevent.spawn(fetch, i) for i in range(8)]
        gevent.joinall(fetches, raise_error=True)
    server.stop(timeout=5)
    report("wsgi", [[g.value for g in fetches], inflight[1] > 1])


if __name__ == "__main__":
    compiled()
    sleeping()
    pools()
    queues()
    events()
    timeouts()
    kills()
    joins_and_links()
    patched_threads()
    echo_server()
    wsgi_server()
    done()
