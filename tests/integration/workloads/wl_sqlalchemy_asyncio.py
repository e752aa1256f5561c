"""SQLAlchemy's asyncio ORM over aiosqlite, through SQLAlchemy's greenlet bridge.

Every database call of an AsyncSession runs SQLAlchemy's synchronous ORM code
in a greenlet (``greenlet_spawn``) that switches back to the coroutine's
greenlet to await the driver (``await_only``), so this is the bridge used for
real: declarative models with a relationship, insert / query / update /
delete, ``run_sync`` with lazy loads, exceptions crossing the bridge in both
directions, rollbacks, context variables, and several sessions at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import tempfile
from typing import List

from _which_greenlet import check_greenlet, done, report

greenlet = check_greenlet()

from sqlalchemy import ForeignKey, String, func, select, update  # noqa: E402
from sqlalchemy import exc as sa_exc  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker, create_async_engine  # noqa: E402
from sqlalchemy.orm import (  # noqa: E402
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)
from sqlalchemy.util import await_only, greenlet_spawn  # noqa: E402

REQUEST = contextvars.ContextVar("REQUEST", default="unset")


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[List[Book]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Book.id"
    )


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    year: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class Boom(Exception):
    """Raised by synchronous code inside the bridge; carries what that code had loaded."""

    def __init__(self, message: str, titles: list) -> None:
        super().__init__(message)
        self.titles = titles


def in_bridge() -> greenlet.greenlet:
    """Assert that this code runs in a greenlet of SQLAlchemy's bridge; return it."""
    current = greenlet.getcurrent()
    assert isinstance(current, greenlet.greenlet), type(current)
    assert getattr(current, "__sqlalchemy_greenlet_provider__", False), type(current)
    assert current.parent is not None and not current.dead
    return current


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def fail_async(key: str) -> None:
    await asyncio.sleep(0)
    raise KeyError(key)


async def bridge() -> None:
    """greenlet_spawn / await_only used directly, as SQLAlchemy's own code does."""
    task_greenlet = greenlet.getcurrent()
    REQUEST.set("bridge")

    def sync_part(x: int) -> list:
        current = in_bridge()
        assert current is not task_greenlet and current.parent is task_greenlet
        a = await_only(asyncio.sleep(0.01, result=x))
        b = await_only(double(a))
        try:
            await_only(fail_async("missing"))
        except KeyError as e:  # raised by the coroutine, thrown into this greenlet
            caught = "KeyError:" + e.args[0]
        else:
            caught = "nothing"
        nested = await_only(greenlet_spawn(lambda: await_only(double(b))))
        assert greenlet.getcurrent() is current
        return [a, b, caught, nested, REQUEST.get()]

    report("bridge_values", await greenlet_spawn(sync_part, 21))

    def sync_raises() -> None:
        await_only(asyncio.sleep(0))
        raise Boom("raised in sync code", ["t1"])

    try:
        await greenlet_spawn(sync_raises)
    except Boom as e:
        report("bridge_raise", [type(e).__name__, str(e), e.titles])

    coroutine = fail_async("outside")
    try:
        await_only(coroutine)  # not in a bridge greenlet: refused, coroutine closed
    except sa_exc.MissingGreenlet:
        report("bridge_missing_greenlet", True)

    # several bridges at once, each switching out at every await
    log = []

    def stepper(i: int) -> int:
        in_bridge()
        for step in range(3):
            log.append([i, step])
            await_only(asyncio.sleep(0))
        return i * 10

    results = await asyncio.gather(*(greenlet_spawn(stepper, i) for i in range(4)))
    report("bridge_gather", results)
    report("bridge_gather_log", log)

    # cancelling the task while its sync code waits: CancelledError goes into
    # the greenlet, its finally block runs, and the task ends cancelled
    unwound = []

    def waits_forever() -> None:
        try:
            await_only(asyncio.sleep(30))
        finally:
            unwound.append(type(greenlet.getcurrent()).__name__)

    task = asyncio.ensure_future(greenlet_spawn(waits_forever))
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    report("bridge_cancel", [task.cancelled(), unwound])


async def orm(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    make_session = async_sessionmaker(engine, expire_on_commit=False)

    async with make_session() as s:
        async with s.begin():
            s.add_all(
                [
                    Author(
                        name="Ann", books=[Book(title="A1", year=2001), Book(title="A2", year=2003)]
                    ),
                    Author(name="Bob", books=[Book(title="B1", year=1999)]),
                ]
            )

    async with make_session() as s:
        authors = (
            await s.scalars(
                select(Author).options(selectinload(Author.books)).order_by(Author.name)
            )
        ).all()
        report("orm_selectinload", {a.name: [b.title for b in a.books] for a in authors})
        counts = await s.execute(
            select(Author.name, func.count(Book.id))
            .join(Author.books)
            .group_by(Author.name)
            .order_by(Author.name)
        )
        report("orm_counts", [list(row) for row in counts])

    async with make_session() as s:
        book = await s.scalar(select(Book).where(Book.title == "B1"))
        author = await book.awaitable_attrs.author  # a lazy load, through the bridge
        report("orm_lazy_async", author.name)
        stream = await s.stream_scalars(select(Book).order_by(Book.title))
        report("orm_stream", [b.title async for b in stream])

    # run_sync: plain synchronous ORM code, whose lazy loads do IO through the bridge
    def sync_report(session: Session) -> dict:
        in_bridge()
        out = {}
        for a in session.scalars(select(Author).order_by(Author.name)):
            out[a.name] = [[b.title, b.year, b.author.name] for b in a.books]
        out["context"] = REQUEST.get()
        return out

    REQUEST.set("orm")
    async with make_session() as s:
        report("orm_run_sync", await s.run_sync(sync_report))

    # an exception raised by the sync part crosses the bridge; the transaction is rolled back
    def sync_fails(session: Session) -> None:
        in_bridge()
        bob = session.scalars(select(Author).where(Author.name == "Bob")).one()
        titles = [b.title for b in bob.books]
        bob.name = "Robert"
        session.add(Book(title="X1", year=1, author=bob))
        session.flush()
        raise Boom("sync part failed", titles)

    async with make_session() as s:
        try:
            async with s.begin():
                await s.run_sync(sync_fails)
        except Boom as e:
            boom = [type(e).__name__, str(e), e.titles]
        else:
            boom = None
        names = (await s.scalars(select(Author.name).order_by(Author.name))).all()
        x1 = await s.scalar(select(func.count()).select_from(Book).where(Book.title == "X1"))
        report("orm_sync_exception", [boom, list(names), x1])

    # a database error raised while the sync part awaits the driver: thrown into
    # the greenlet, out of the flush, back to the coroutine; then an explicit rollback
    async with make_session() as s:
        s.add(Author(name="Bob"))
        try:
            await s.commit()
        except sa_exc.IntegrityError as e:
            integrity = [type(e).__name__, type(e.orig).__name__, "UNIQUE" in str(e.orig)]
        else:
            integrity = None
        await s.rollback()
        authors = await s.scalar(select(func.count()).select_from(Author))

        def sync_integrity(session: Session) -> list:
            in_bridge()
            session.add(Author(name="Ann"))
            try:
                session.flush()
            except sa_exc.IntegrityError as e:
                session.rollback()
                return [type(e).__name__, greenlet.getcurrent().parent is not None]
            return ["no error"]

        inside = await s.run_sync(sync_integrity)
        report("orm_integrity", [integrity, authors, inside])

    # update and delete (with the delete-orphan cascade)
    async with make_session() as s:
        async with s.begin():
            await s.execute(update(Book).where(Book.year < 2000).values(year=2000))
            bob = await s.scalar(
                select(Author).where(Author.name == "Bob").options(selectinload(Author.books))
            )
            bob.books.append(Book(title="B2", year=2005))
            ann = await s.scalar(select(Author).where(Author.name == "Ann"))
            await s.delete(ann)
        rows = await s.execute(
            select(Author.name, Book.title, Book.year).join(Book.author).order_by(Book.title)
        )
        report("orm_update_delete", [list(r) for r in rows])

    # several sessions at once, each in its own task with its own context
    active = [0, 0]  # now, peak

    async def worker(i: int) -> list:
        REQUEST.set("worker-%d" % i)
        async with make_session() as s:
            active[0] += 1
            active[1] = max(active)
            async with s.begin():
                s.add(
                    Author(
                        name="W%d" % i,
                        books=[Book(title="W%d-%d" % (i, k), year=2010 + k) for k in range(3)],
                    )
                )
            await asyncio.sleep(0)

            def mine(session: Session) -> list:
                in_bridge()
                a = session.scalars(select(Author).where(Author.name == "W%d" % i)).one()
                return [REQUEST.get(), [b.title for b in a.books]]

            out = await s.run_sync(mine)
            active[0] -= 1
        return out

    report("orm_concurrent", await asyncio.gather(*(worker(i) for i in range(6))))
    report("orm_concurrent_overlap", active[1] > 1)
    async with make_session() as s:
        total = await s.scalar(select(func.count()).select_from(Book))
        report("orm_total_books", total)
    await engine.dispose()


async def main() -> None:
    await bridge()
    with tempfile.TemporaryDirectory() as tmp:
        await orm("sqlite+aiosqlite:///" + os.path.join(tmp, "library.db"))


if __name__ == "__main__":
    asyncio.run(main())
    done()
