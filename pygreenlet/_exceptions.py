"""The two exception types of the greenlet API, shared by every backend."""

from __future__ import annotations

__all__ = ["GreenletExit", "error"]


class GreenletExit(BaseException):
    """Raised in a greenlet to kill it; a greenlet that does not catch it dies quietly.

    It is what :meth:`greenlet.throw` sends by default, and what a greenlet
    receives when it is collected while still suspended.  An uncaught
    ``GreenletExit`` is not propagated to the parent: the exception instance is
    returned to the parent as an ordinary value instead (rule R6).
    """


class error(Exception):
    """Raised when a switch is impossible, e.g. to a greenlet of another thread."""


GreenletExit.__module__ = "pygreenlet"
error.__module__ = "pygreenlet"
