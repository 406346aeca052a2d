"""Notifiers that compose: record (tests), fan out, and send in the background."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from typing import TypeVar

from paykit._arguments import checked
from paykit.errors import ValidationError
from paykit.notifications.events import Event
from paykit.notifications.outbox import Notifier

__all__ = ["BackgroundNotifier", "FanOutNotifier", "RecordingNotifier"]

log = logging.getLogger("paykit.notifications")

_E = TypeVar("_E", bound=Event)


class RecordingNotifier:
    """Keeps every event it is sent, in order (for tests); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def send(self, event: Event) -> None:
        """Record ``event``."""
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        """A copy of what was sent so far."""
        with self._lock:
            return list(self._events)

    def of_type(self, kind: type[_E]) -> list[_E]:
        """The recorded events of one class."""
        return [e for e in self.events if isinstance(e, kind)]

    def clear(self) -> None:
        """Forget what was recorded."""
        with self._lock:
            self._events.clear()


class FanOutNotifier:
    """Sends each event to several notifiers; one that raises does not stop the others.

    Failures are logged and counted in ``failed``.
    """

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self.notifiers = tuple(notifiers)
        self._lock = threading.Lock()
        for notifier in self.notifiers:
            if not isinstance(notifier, Notifier):
                raise ValidationError(
                    f"{notifier!r} is not a Notifier: it has no send(event) method",
                    code="invalid_argument",
                    details={"param": "notifiers"},
                )
        self.failed = 0

    def send(self, event: Event) -> None:
        """Send ``event`` to every notifier in turn."""
        for notifier in self.notifiers:
            try:
                notifier.send(event)
            except Exception:
                with self._lock:  # several committing threads may share one fan-out
                    self.failed += 1
                log.exception("notifier %r failed on %s", notifier, event.kind)


_STOP = object()


class BackgroundNotifier:
    """Hands events to ``inner`` on a worker thread, so a slow SMTP server does not
    hold up the request that committed.

    ``send`` only puts the event on a bounded queue; when the queue is full the
    event is dropped, logged and counted in ``dropped`` rather than blocking the
    host. ``inner``'s failures are logged and counted in ``failed``. Call
    ``close()`` at shutdown (or use it as a context manager) to deliver what is
    queued; ``flush()`` waits until the queue is empty. Delivery is at most
    once: events still queued when the process dies are lost. ``max_queue``
    of 0 or less means unbounded.
    """

    @checked
    def __init__(self, inner: Notifier, *, max_queue: int = 10_000) -> None:
        self.inner = inner
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="paykit-notifier", daemon=True)
        self._thread.start()

    def send(self, event: Event) -> None:
        """Queue ``event`` for the worker thread; never blocks."""
        if self._closed:
            self._drop()
            log.error("BackgroundNotifier is closed; %s dropped", event.kind)
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._drop()
            log.error("notification queue full; %s dropped", event.kind)

    def _drop(self) -> None:
        with self._lock:  # send() runs on every committing thread
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Event)
                try:
                    self.inner.send(item)
                except Exception:
                    self.failed += 1
                    log.exception("notifier %r failed on %s", self.inner, item.kind)
                else:
                    self.sent += 1
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued event has been handed to ``inner``."""
        self._queue.join()

    def close(self, timeout: float | None = 30.0) -> None:
        """Deliver what is queued, then stop the worker thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
