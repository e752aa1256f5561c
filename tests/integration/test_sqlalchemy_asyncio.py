"""SQLAlchemy's asyncio ORM (aiosqlite driver) through its greenlet bridge."""

from __future__ import annotations

EXPECTED = {
    # greenlet_spawn / await_only used directly
    "bridge_values": [21, 42, "KeyError:missing", 84, "bridge"],
    "bridge_raise": ["Boom", "raised in sync code", ["t1"]],
    "bridge_missing_greenlet": True,
    "bridge_gather": [0, 10, 20, 30],
    "bridge_gather_log": [[i, step] for step in range(3) for i in range(4)],
    "bridge_cancel": [True, ["_AsyncIoGreenlet"]],
    # the ORM over AsyncSession
    "orm_selectinload": {"Ann": ["A1", "A2"], "Bob": ["B1"]},
    "orm_counts": [["Ann", 2], ["Bob", 1]],
    "orm_lazy_async": "Bob",
    "orm_stream": ["A1", "A2", "B1"],
    "orm_run_sync": {
        "Ann": [["A1", 2001, "Ann"], ["A2", 2003, "Ann"]],
        "Bob": [["B1", 1999, "Bob"]],
        "context": "orm",
    },
    "orm_sync_exception": [["Boom", "sync part failed", ["B1"]], ["Ann", "Bob"], 0],
    "orm_integrity": [["IntegrityError", "IntegrityError", True], 2, ["IntegrityError", True]],
    "orm_update_delete": [["Bob", "B1", 2000], ["Bob", "B2", 2005]],
    "orm_concurrent": [["worker-%d" % i, ["W%d-%d" % (i, k) for k in range(3)]] for i in range(6)],
    "orm_concurrent_overlap": True,
    "orm_total_books": 2 + 18,
}


def test_sqlalchemy_asyncio_orm(run_workload):
    run_workload("wl_sqlalchemy_asyncio.py").check(EXPECTED)
