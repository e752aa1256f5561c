"""eventlet: green threads, pools, events, queues, timeouts, kills and servers.

``python wl_eventlet.py`` uses eventlet's green modules explicitly
(``eventlet.green.socket`` ...); ``python wl_eventlet.py --monkey-patch``
calls ``eventlet.monkey_patch()`` first and uses the standard library's
(patched) modules, as most eventlet applications do.  The servers listen on
127.0.0.1 on a port the system picks; every loop is bounded.
"""

from __future__ import annotations

import sys

MONKEY = "--monkey-patch" in sys.argv[1:]
if MONKEY:
    import eventlet

    eventlet.monkey_patch()

from _which_greenlet import check_greenlet, done, report  # noqa: E402

greenlet = check_greenlet()

import json  # noqa: E402

import eventlet  # noqa: E402
import eventlet.corolocal  # noqa: E402
import eventlet.event  # noqa: E402
import eventlet.greenthread  # noqa: E402
import eventlet.queue  # noqa: E402
import eventlet.timeout  # noqa: E402
import eventlet.tpool  # noqa: E402
import eventlet.wsgi  # noqa: E402
from eventlet import hubs  # noqa: E402

if MONKEY:
    import socket
    import threading
    import time
    import urllib.request as urlrequest

    assert all(eventlet.patcher.is_monkey_patched(m) for m in ("socket", "thread", "time"))
else:
    from eventlet.green import socket, threading, time
    from eventlet.green.urllib import request as urlrequest

    assert not eventlet.patcher.is_monkey_patched("socket")

GreenletExit = greenlet.GreenletExit


class Stop(Exception):
    """A custom exception that kills a green thread."""


def identity() -> None:
    hub = hubs.get_hub()
    assert isinstance(hub.greenlet, greenlet.greenlet), type(hub.greenlet)
    assert issubclass(eventlet.greenthread.GreenThread, greenlet.greenlet)
    seen = []

    def who() -> None:
        current = greenlet.getcurrent()
        seen.append([current is gt, current.parent is hub.greenlet, hubs.get_hub() is hub])

    gt = eventlet.spawn(who)
    eventlet.sleep(0.02)  # (not gt.wait(): that would hang if the checks below fail)
    assert seen, "the green thread did not run"
    assert seen[0][2], (
        "eventlet.hubs.get_hub() in a green thread is not the hub that runs it: eventlet "
        "keeps its hub in a threading.local, so the greenlets of one OS thread must share "
        "threading.local data"
    )
    gt.wait()
    report("identity", [seen[0], type(hub).__module__])


def sleeping() -> None:
    order = []

    def sleeper(tag: str, seconds: float) -> None:
        eventlet.sleep(seconds)
        order.append(tag)

    threads = [eventlet.spawn(sleeper, t, s) for t, s in (("c", 0.06), ("a", 0.02), ("b", 0.04))]
    for gt in threads:
        gt.wait()
    log = []

    def stepper(tag: str) -> None:
        for i in range(3):
            log.append("%s%d" % (tag, i))
            eventlet.sleep(0)

    steppers = [eventlet.spawn(stepper, t) for t in "xyz"]
    for gt in steppers:
        gt.wait()
    # every thread ran its first step before any ran its last one (the order of
    # equal-time timers is not defined in eventlet)
    report("sleep", [order, sorted(log), sorted(log[:3]), sorted(log[-3:])])


def threads() -> None:
    def add(a: int, b: int = 0) -> int:
        eventlet.sleep(0.001)
        return a + b

    def fails() -> None:
        eventlet.sleep(0)
        raise ValueError("from a green thread")

    values = [eventlet.spawn(add, i, b=10).wait() for i in range(3)]
    try:
        eventlet.spawn(fails).wait()
    except ValueError as e:
        error = [type(e).__name__, str(e)]
    ran = []
    for i in range(3):
        eventlet.spawn_n(ran.append, i)
    eventlet.sleep(0.01)
    fired = []
    late = [eventlet.spawn_after(d, fired.append, t) for t, d in (("late", 0.04), ("early", 0.01))]
    cancelled = eventlet.spawn_after(0.02, fired.append, "cancelled")
    cancelled.cancel()
    for gt in late:
        gt.wait()
    linked = []
    gt = eventlet.spawn(add, 1, 2)
    gt.link(lambda g, tag: linked.append([tag, g.wait()]), "curried")
    gt.wait()
    eventlet.sleep(0)
    report("threads", [values, error, sorted(ran), fired, linked])


def pools() -> None:
    pool = eventlet.GreenPool(3)
    running = [0, 0]

    def job(n: int) -> int:
        running[0] += 1
        running[1] = max(running)
        eventlet.sleep(0.002 * (n % 3))
        running[0] -= 1
        return n * n

    imap = list(pool.imap(job, range(10)))
    starmap = list(pool.starmap(lambda a, b: a * b, [(1, 2), (3, 4), (5, 6)]))
    spawned = [pool.spawn(job, n) for n in range(5)]
    pool.waitall()
    pile = eventlet.GreenPile(pool)
    for n in range(4):
        pile.spawn(job, n)
    report(
        "pools",
        [imap, starmap, [gt.wait() for gt in spawned], list(pile), running[1], pool.running()],
    )


def events() -> None:
    event = eventlet.event.Event()
    woke = []

    def waiter(i: int) -> None:
        woke.append([i, event.wait()])

    waiters = [eventlet.spawn(waiter, i) for i in range(4)]
    eventlet.sleep(0.01)
    before = len(woke)
    event.send("go")
    for gt in waiters:
        gt.wait()
    failing = eventlet.event.Event()
    eventlet.spawn_after(0.01, failing.send_exception, KeyError("bad key"))
    try:
        failing.wait()
    except KeyError as e:
        error = [type(e).__name__, e.args[0]]
    report("events", [before, sorted(woke), event.ready(), error])


def queues() -> None:
    q = eventlet.queue.Queue(maxsize=2)
    consumed = {"c1": [], "c2": []}

    def producer() -> None:
        for i in range(20):
            q.put(i)
        for _ in consumed:
            q.put(None)

    def consumer(name: str) -> None:
        for _ in range(50):
            item = q.get()
            if item is None:
                return
            consumed[name].append(item)
            eventlet.sleep(0)

    workers = [eventlet.spawn(producer)] + [eventlet.spawn(consumer, n) for n in consumed]
    for gt in workers:
        gt.wait()
    items = sorted(consumed["c1"] + consumed["c2"])
    jobs = eventlet.queue.Queue()
    done_jobs = []

    def worker() -> None:
        for _ in range(5):
            job = jobs.get()
            done_jobs.append(job)
            jobs.task_done()

    for i in range(5):
        jobs.put(i)
    eventlet.spawn_n(worker)
    jobs.join()
    try:
        eventlet.queue.Queue().get(timeout=0.01)
    except eventlet.queue.Empty:
        empty = True
    report("queues", [items, all(consumed.values()), done_jobs, empty])


def timeouts() -> None:
    start = time.time()
    with eventlet.Timeout(0.02, False):
        eventlet.sleep(5)
    silent = time.time() - start < 2
    try:
        with eventlet.Timeout(0.02) as t:
            eventlet.sleep(5)
    except eventlet.Timeout as e:
        raised = e is t
    try:
        with eventlet.Timeout(0.02, Stop("too slow")):
            eventlet.sleep(5)
    except Stop as e:
        custom = str(e)
    fallback = eventlet.timeout.with_timeout(0.02, eventlet.sleep, 5, timeout_value="fallback")

    def guarded() -> str:
        try:
            with eventlet.Timeout(0.01):
                eventlet.sleep(5)
        except eventlet.Timeout:
            return "timed out in a green thread"
        return "no timeout"

    report("timeouts", [silent, raised, custom, fallback, eventlet.spawn(guarded).wait()])


def kills() -> None:
    log = []

    def forever(name: str) -> None:
        try:
            for _ in range(2000):
                eventlet.sleep(0.005)
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
            eventlet.sleep(5)
        except GreenletExit:
            return "cleaned up"
        return "not killed"

    g1, g2, g3 = (eventlet.spawn(forever, n) for n in ("g1", "g2", "g3"))
    eventlet.sleep(0.02)
    outcomes = []
    g1.kill()
    try:
        g1.wait()
    except GreenletExit:
        outcomes.append("g1:GreenletExit")
    eventlet.kill(g2, Stop("now"))
    try:
        g2.wait()
    except Stop as e:
        outcomes.append("g2:Stop:%s" % e)
    g3.kill(Stop, Stop("as exc_info"), None)
    try:
        g3.wait()
    except Stop as e:
        outcomes.append("g3:Stop:%s" % e)
    # never started: its function never runs
    g4 = eventlet.spawn(forever, "g4")
    g4.kill()
    try:
        g4.wait()
    except GreenletExit:
        outcomes.append("g4:GreenletExit")
    g5 = eventlet.spawn(forever, "g5")
    g5.kill(Stop, Stop("before start"), None)
    try:
        g5.wait()
    except Stop as e:
        outcomes.append("g5:Stop:%s" % e)
    g6 = eventlet.spawn(stubborn)
    eventlet.sleep(0)
    g6.kill()
    outcomes.append("g6:" + g6.wait())
    dead = [g.dead for g in (g1, g2, g3, g4, g5, g6)]
    report("kills", [outcomes, log, dead])


def locals_and_threads() -> None:
    local = eventlet.corolocal.local()
    thread_local = threading.local()
    seen = []

    def worker(i: int) -> None:
        local.value = i
        thread_local.value = i * 100
        eventlet.sleep(0.005)
        seen.append([local.value, thread_local.value])

    pool = eventlet.GreenPool()
    for i in range(4):
        pool.spawn_n(worker, i)
    pool.waitall()
    out = [sorted(seen)]
    if MONKEY:
        # patched threading: Thread is a green thread, get_ident is per green thread
        idents = []

        def green_thread(i: int) -> None:
            time.sleep(0.005)  # patched: cooperative
            idents.append(threading.get_ident())

        ts = [threading.Thread(target=green_thread, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(5)
        out.append([len(set(idents)), all(not t.is_alive() for t in ts)])
    # a blocking call in a real OS thread of eventlet's pool
    real_ident = eventlet.tpool.execute(lambda: eventlet.patcher.original("threading").get_ident())
    out.append([eventlet.tpool.execute(sum, [1, 2, 3]), isinstance(real_ident, int)])
    eventlet.tpool.killall()
    report("locals", out)


def echo_server() -> None:
    server = eventlet.listen(("127.0.0.1", 0))
    port = server.getsockname()[1]
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
            sock.close()
            conns[0] -= 1

    server_gt = eventlet.spawn(eventlet.serve, server, handle)

    def client(i: int) -> list:
        sock = (
            eventlet.connect(("127.0.0.1", port))
            if i % 2
            else socket.create_connection(("127.0.0.1", port), timeout=5)
        )
        f = sock.makefile("rwb")
        replies = []
        for k in range(3):
            f.write(b"client %d message %d\n" % (i, k))
            f.flush()
            replies.append(f.readline().decode().strip())
            eventlet.sleep(0.005)
        f.write(b"bye\n")
        f.flush()
        f.close()
        sock.close()
        return replies

    with eventlet.Timeout(20):
        clients = eventlet.GreenPool()
        replies = list(clients.imap(client, range(8)))
        for _ in range(500):  # the handlers see the clients' last line and end
            if not conns[0]:
                break
            eventlet.sleep(0.01)
    server_gt.kill()
    server.close()
    report("echo", [replies, conns[1] > 1, conns[0]])


def wsgi_server() -> None:
    sock = eventlet.listen(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    inflight = [0, 0]

    def app(environ, start_response):
        inflight[0] += 1
        inflight[1] = max(inflight)
        eventlet.sleep(0.02)
        inflight[0] -= 1
        body = json.dumps({"path": environ["PATH_INFO"], "query": environ["QUERY_STRING"]})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]

    server_gt = eventlet.spawn(eventlet.wsgi.server, sock, app, log_output=False)
    opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))  # 127.0.0.1 only

    def fetch(i: int) -> list:
        url = "http://127.0.0.1:%d/item/%d?n=%d" % (port, i, i)
        with opener.open(url, timeout=5) as response:
            return [response.status, json.loads(response.read())]

    with eventlet.Timeout(20):
        results = list(eventlet.GreenPool().imap(fetch, range(8)))
    server_gt.kill()
    sock.close()
    report("wsgi", [results, inflight[1] > 1])


if __name__ == "__main__":
    identity()
    sleeping()
    threads()
    pools()
    events()
    queues()
    timeouts()
    kills()
    locals_and_threads()
    echo_server()
    wsgi_server()
    done()
