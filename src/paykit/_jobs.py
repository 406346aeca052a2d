"""The subscription lifecycle's periodic jobs, run together (``paykit subscriptions``).

A host that sells subscriptions runs three jobs on a schedule: the plan
changes scheduled for a period's end (:func:`paykit.apply_scheduled_changes`),
trials that have ended (:func:`paykit.end_trials`) and grace periods that are
over (:func:`paykit.enforce_grace_period`); and, once a day, the notices of
trials about to end (:func:`paykit.trial_ending_notices`, read only). Each
service handles at most ``limit`` subscriptions a call; :func:`run_subscription_jobs`
calls each until it has less than a batch left, one transaction per batch, so
a batch's work is committed before the next gateway call and a crash loses at
most one batch (which the next run redoes: every job is idempotent).

The notices are what the host tells its customers; the CLI prints them (one
JSON object a line with ``--json``) for a mailer to pick up, each with the
``key`` that makes sending it twice detectable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.gateways.base import PaymentGateway
from paykit.models import Subscription
from paykit.services.subscriptions.changes import apply_scheduled_changes
from paykit.services.subscriptions.dunning import enforce_grace_period
from paykit.services.subscriptions.notices import BillingNotice
from paykit.services.subscriptions.trials import end_trials, trial_ending_notices

__all__ = ["JobsReport", "print_notices", "run_subscription_jobs", "upcoming_trial_notices"]

#: Batches per job and run at the most: a job that keeps returning full batches
#: (a gateway that answers but changes nothing) cannot loop for ever.
MAX_BATCHES = 1000


@dataclass
class JobsReport:
    """What one run did: the subscriptions whose scheduled change was applied, and
    the notices of the trials and grace periods it ended (to send to customers)."""

    changes_applied: list[str] = field(default_factory=list)
    trials_ended: list[BillingNotice] = field(default_factory=list)
    grace_periods_ended: list[BillingNotice] = field(default_factory=list)

    @property
    def notices(self) -> list[BillingNotice]:
        """Every notice of the run, trials first."""
        return [*self.trials_ended, *self.grace_periods_ended]

    def counts(self) -> dict[str, int]:
        """How many of each: changes applied, trials ended, grace periods ended."""
        return {
            "changes_applied": len(self.changes_applied),
            "trials_ended": len(self.trials_ended),
            "grace_periods_ended": len(self.grace_periods_ended),
        }


def _subject(item: Any) -> str:
    return item if isinstance(item, str) else str(item.subscription_id)


def _drain(engine: sa.Engine, call: Callable[[Session], Sequence[Any]], limit: int) -> list[Any]:
    """``call`` in its own transaction, batch after batch, until a batch is not full
    or names no subscription an earlier batch did not (a job that makes no progress
    stops instead of calling the gateway again for the same rows)."""
    done: list[Any] = []
    seen: set[str] = set()
    for _ in range(MAX_BATCHES):
        with Session(engine, expire_on_commit=False) as session, session.begin():
            batch = list(call(session))
            if batch and isinstance(batch[0], Subscription):
                batch = [row.id for row in batch]
        fresh = [item for item in batch if _subject(item) not in seen]
        seen.update(_subject(item) for item in fresh)
        done.extend(fresh)
        if len(batch) < limit or not fresh:
            break
    return done


def run_subscription_jobs(
    engine: sa.Engine, *, gateway: PaymentGateway, clock: Clock | None = None, limit: int = 100
) -> JobsReport:
    """Apply due plan changes, end trials, end grace periods; each drained in batches."""
    report = JobsReport()
    report.changes_applied = _drain(
        engine,
        lambda s: apply_scheduled_changes(s, gateway=gateway, clock=clock, limit=limit),
        limit,
    )
    report.trials_ended = _drain(
        engine, lambda s: end_trials(s, gateway=gateway, clock=clock, limit=limit), limit
    )
    report.grace_periods_ended = _drain(
        engine, lambda s: enforce_grace_period(s, gateway=gateway, clock=clock, limit=limit), limit
    )
    return report


def upcoming_trial_notices(
    engine: sa.Engine, *, clock: Clock | None = None, days: int | None = None
) -> list[BillingNotice]:
    """The ``trial_will_end`` notices due now (read only; a daily job sends each by its key)."""
    with Session(engine) as session:
        return trial_ending_notices(session, clock=clock, days=days, limit=10_000)


def _as_json(notice: BillingNotice) -> dict[str, Any]:
    return {
        "key": notice.key,
        "kind": notice.kind,
        "subscription_id": notice.subscription_id,
        "user_id": notice.user_id,
        "occurred_at": notice.occurred_at.isoformat(),
        "due_at": None if notice.due_at is None else notice.due_at.isoformat(),
        "amount": None if notice.amount is None else str(notice.amount),
        "currency": notice.currency,
        "details": {
            k: v if isinstance(v, bool | int | str) or v is None else str(v)
            for k, v in notice.details.items()
        },
    }


def print_notices(notices: Sequence[BillingNotice], out: TextIO, *, as_json: bool) -> None:
    """One line a notice: JSON objects, or ``kind subscription user outcome`` for people."""
    for notice in notices:
        if as_json:
            print(json.dumps(_as_json(notice), sort_keys=True), file=out)
        else:
            outcome = notice.details.get("outcome")
            extra = f"  {outcome}" if outcome else ""
            print(f"{notice.kind}  {notice.subscription_id}  {notice.user_id}{extra}", file=out)
