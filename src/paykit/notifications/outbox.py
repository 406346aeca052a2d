"""Queue events during a transaction; deliver them only after it commits.

``attach_notifier`` hangs an :class:`Outbox` on a session (``session.info``)
and listens to the session's transaction events. An event queued inside a
savepoint that is rolled back is dropped with it; every event still pending
when the outermost transaction ends without a commit (rollback, close, a
session never committed) is dropped. A notifier that raises is logged and
counted, never re-raised: the host's commit has already happened.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from paykit._arguments import checked
from paykit.notifications.events import Event

__all__ = ["Notifier", "Outbox", "attach_notifier", "detach_notifier", "is_attached", "notify"]

log = logging.getLogger("paykit.notifications")

_KEY = "paykit.notifications.outbox"


@runtime_checkable
class Notifier(Protocol):
    """What receives paykit's events, one call per event, after the commit.

    ``send`` runs on the thread that committed, inside ``Session.commit()``:
    a notifier that does slow I/O should be wrapped in ``BackgroundNotifier``.
    """

    def send(self, event: Event) -> None:
        """Deliver one event (an e-mail, a queue message, a log line...)."""


class Outbox:
    """The events a session has queued, its notifiers, and what delivery did.

    ``delivered`` and ``failed`` count notifier calls since the outbox was
    attached; ``pending`` is what the current transaction has queued.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.notifiers: list[Notifier] = []
        self._pending: list[tuple[SessionTransaction | None, Event]] = []
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    @property
    def pending(self) -> tuple[Event, ...]:
        """The events the open transaction has queued, in order."""
        return tuple(e for _, e in self._pending)

    def queue(self, item: Event) -> None:
        """Hold ``item`` until the outermost transaction commits."""
        self._pending.append((self.session.get_nested_transaction(), item))

    def _drop_savepoint(self, savepoint: SessionTransaction) -> None:
        def inside(txn: SessionTransaction | None) -> bool:
            while txn is not None:
                if txn is savepoint:
                    return True
                txn = txn.parent
            return False

        self._pending = [(t, e) for t, e in self._pending if not inside(t)]

    def _deliver(self) -> None:
        pending, self._pending = self._pending, []
        for _, item in pending:
            for notifier in self.notifiers:
                try:
                    notifier.send(item)
                except Exception:
                    # The commit is done: a notifier's failure must not reach the host.
                    with self._lock:
                        self.failed += 1
                    log.exception("notifier %r failed on %s", notifier, item.kind)
                else:
                    with self._lock:
                        self.delivered += 1


def _outbox(session: Session) -> Outbox | None:
    found = session.info.get(_KEY)
    return found if isinstance(found, Outbox) else None


def _after_commit(session: Session) -> None:
    # after_commit also fires when a savepoint is released: only the outermost
    # transaction's commit delivers.
    box = _outbox(session)
    if box is not None and not session.in_nested_transaction():
        box._deliver()


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    box = _outbox(session)
    if box is None:
        return
    if previous.nested:
        box._drop_savepoint(previous)
    else:
        box._pending.clear()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    box = _outbox(session)
    if box is not None and transaction.parent is None:
        # after_commit has already delivered; what is left never committed.
        box._pending.clear()


_LISTENERS: tuple[tuple[str, Any], ...] = (
    ("after_commit", _after_commit),
    ("after_soft_rollback", _after_soft_rollback),
    ("after_transaction_end", _after_transaction_end),
)


@checked
def attach_notifier(session: Session, notifier: Notifier) -> Outbox:
    """Deliver the events this session's services emit to ``notifier``, after each commit.

    Attaching the same notifier again does nothing (it is not called twice per
    event); another notifier is added beside the first. Returns the session's
    :class:`Outbox` (its ``delivered`` and ``failed`` counts).
    """
    box = _outbox(session)
    if box is None:
        box = Outbox(session)
        session.info[_KEY] = box
        for name, listener in _LISTENERS:
            event.listen(session, name, listener)
    if not any(n is notifier for n in box.notifiers):
        box.notifiers.append(notifier)
    return box


@checked
def detach_notifier(session: Session) -> None:
    """Stop notifying for this session; events still pending are dropped."""
    box = session.info.pop(_KEY, None)
    if isinstance(box, Outbox):
        for name, listener in _LISTENERS:
            event.remove(session, name, listener)


@checked
def is_attached(session: Session) -> bool:
    """Whether a notifier listens on ``session``."""
    return attached(session)


def attached(session: Session) -> bool:
    """:func:`is_attached` without the argument check, for the services' hot path."""
    return _KEY in session.info


@checked
def notify(session: Session, item: Event) -> None:
    """Queue an event of the host's own (a password reset link, ...) on the session's
    outbox, delivered after the commit like paykit's; nothing if no notifier is attached."""
    box = _outbox(session)
    if box is not None:
        box.queue(item)
