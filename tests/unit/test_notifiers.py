"""The notifiers without a database: background thread, fan-out, bad arguments."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

from paykit.errors import ValidationError
from paykit.notifications import (
    BackgroundNotifier,
    EmailNotifier,
    Event,
    FanOutNotifier,
    PasswordResetRequested,
    RecordingNotifier,
    attach_notifier,
    notify,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(n: int = 0) -> PasswordResetRequested:
    return PasswordResetRequested(user_id=None, email=None, occurred_at=T0, reset_url=f"u{n}")


class Gate:
    """A notifier that blocks until released: a slow SMTP server."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.seen: list[Event] = []

    def send(self, item: Event) -> None:
        self.release.wait(10)
        self.seen.append(item)


class Boom:
    def send(self, item: Event) -> None:
        raise OSError("smtp down")


def test_events_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        event().reset_url = "other"  # type: ignore[misc]


def test_background_send_does_not_wait_for_a_slow_notifier() -> None:
    gate = Gate()
    background = BackgroundNotifier(gate, max_queue=2)
    background.send(event(1))  # taken by the worker, which now blocks
    background.send(event(2))
    background.send(event(3))
    for _ in range(50):  # the queue holds two; the worker holds one or none yet
        background.send(event(4))
    assert background.dropped >= 49
    gate.release.set()
    background.close()
    assert [e.reset_url for e in gate.seen][:2] == ["u1", "u2"]
    assert background.sent == len(gate.seen)
    background.send(event(5))  # closed: dropped, never blocks
    assert background.sent == len(gate.seen)
    background.close()  # idempotent


def test_background_counts_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    with BackgroundNotifier(Boom()) as background:
        background.send(event())
        background.flush()
    assert (background.sent, background.failed) == (0, 1)
    assert "smtp down" in caplog.text


def test_fan_out_refuses_what_is_not_a_notifier() -> None:
    with pytest.raises(ValidationError) as info:
        FanOutNotifier([RecordingNotifier(), object()])  # type: ignore[list-item]
    assert info.value.code == "invalid_argument"


@pytest.mark.parametrize(
    "call",
    [
        lambda: attach_notifier("session", RecordingNotifier()),  # type: ignore[arg-type]
        lambda: notify("session", event()),  # type: ignore[arg-type]
        lambda: BackgroundNotifier(object()),  # type: ignore[arg-type]
        lambda: EmailNotifier(sender=None),  # type: ignore[arg-type]
        lambda: EmailNotifier(sender="shop@example.com", port="25"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_validation_errors(call: object) -> None:
    with pytest.raises(ValidationError) as info:
        call()  # type: ignore[operator]
    assert info.value.code == "invalid_argument"


def test_templates_exist_for_every_paykit_event() -> None:
    from paykit.notifications import events

    mailer = EmailNotifier(sender="shop@example.com")
    kinds = [
        cls
        for name, cls in vars(events).items()
        if isinstance(cls, type)
        and issubclass(cls, Event)
        and cls is not Event
        and not name.startswith("_")  # the shared bases (_OrderEvent, ...) are not sent
    ]
    assert len(kinds) == 12
    for cls in kinds:
        values = {
            f.name: (T0 if f.name in ("occurred_at", "trial_end", "renews_at") else "1")
            for f in dataclasses.fields(cls)
        }
        values["email"] = "a@example.com"
        message = mailer.render(cls(**values))
        assert message is not None, cls.kind
        assert message["Subject"], cls.kind
