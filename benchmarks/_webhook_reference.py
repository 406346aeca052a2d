"""The hand-written reference for benchmarks/webhooks.py: psycopg, no paykit.

It does what paykit's webhook path does to the same tables, in plain SQL:
verify the ``Stripe-Signature`` (HMAC-SHA256, timestamp tolerance), store the
event once in ``paykit_webhook_events`` (``ON CONFLICT DO NOTHING``), apply it
(``customer.subscription.*``: upsert the subscription row, newest event wins;
``invoice.*``: upsert the invoice row, newest event wins) and mark the row
processed. What it leaves out, and paykit does: audit rows, the gateway
fallback for an invoice that arrives before its subscription (the reference
leaves it pending and applies it in a later pass), the SAVEPOINT per handler,
and input checking beyond what this event mix needs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

_STATUS = {
    "trialing": "TRIALING",
    "active": "ACTIVE",
    "past_due": "PAST_DUE",
    "canceled": "CANCELLED",
    "unpaid": "UNPAID",
    "incomplete": "INCOMPLETE",
    "incomplete_expired": "INCOMPLETE_EXPIRED",
    "paused": "PAUSED",
}
_INVOICE_STATUS = {"draft": "DRAFT", "open": "OPEN", "paid": "PAID", "void": "VOID"}
_INVOICE_STATUS["uncollectible"] = "UNCOLLECTIBLE"

_STORE = """
INSERT INTO paykit_webhook_events (id, event_id, type, object_id, api_version, livemode,
    event_created_at, payload, status, attempts, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, now())
ON CONFLICT (event_id) DO NOTHING RETURNING id"""
_DONE = "UPDATE paykit_webhook_events SET status = 'processed', attempts = 1, processed_at = now() WHERE id = %s"
_SUBSCRIPTION = """
INSERT INTO subscriptions (id, user_id, product_id, price_id, stripe_subscription_id, status,
    current_period_start, current_period_end, cancel_at_period_end, currency, unit_amount,
    quantity, metadata, stripe_event_created_at, created_at, updated_at)
SELECT %(id)s, u.id, p.product_id, p.id, %(sub)s, %(status)s, %(start)s, %(end)s, %(cancel)s,
       upper(%(currency)s), p.unit_amount, %(quantity)s, '{}', %(at)s, now(), now()
FROM users u, prices p WHERE u.stripe_customer_id = %(customer)s AND p.stripe_price_id = %(price)s
ON CONFLICT (stripe_subscription_id) DO UPDATE SET
    status = excluded.status, quantity = excluded.quantity,
    current_period_start = excluded.current_period_start,
    current_period_end = excluded.current_period_end,
    cancel_at_period_end = excluded.cancel_at_period_end,
    stripe_event_created_at = excluded.stripe_event_created_at, updated_at = now()
WHERE subscriptions.stripe_event_created_at IS NULL
   OR subscriptions.stripe_event_created_at <= excluded.stripe_event_created_at"""
_INVOICE = """
INSERT INTO invoices (id, subscription_id, stripe_invoice_id, number, status, currency, subtotal,
    tax, total, amount_paid, amount_due, period_start, period_end, due_date, paid_at,
    stripe_event_created_at, created_at, updated_at)
SELECT %(id)s, s.id, %(inv)s, %(number)s, %(status)s, upper(%(currency)s), %(subtotal)s, 0,
       %(total)s, %(paid)s, %(due)s, %(start)s, %(end)s, NULL, %(paid_at)s, %(at)s, now(), now()
FROM subscriptions s WHERE s.stripe_subscription_id = %(sub)s
ON CONFLICT (stripe_invoice_id) DO UPDATE SET
    number = excluded.number, status = excluded.status, amount_paid = excluded.amount_paid,
    paid_at = excluded.paid_at, stripe_event_created_at = excluded.stripe_event_created_at,
    updated_at = now()
WHERE invoices.stripe_event_created_at IS NULL
   OR invoices.stripe_event_created_at <= excluded.stripe_event_created_at
RETURNING id"""


def verify(body: bytes, header: str, secret: str, now: int, tolerance: int = 300) -> dict[str, Any]:
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    if (
        not hmac.compare_digest(expected.hexdigest(), parts["v1"])
        or abs(now - timestamp) > tolerance
    ):
        raise ValueError("bad signature")
    event: dict[str, Any] = json.loads(body)
    return event


def _ts(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def apply(cur: psycopg.Cursor[Any], event: dict[str, Any]) -> bool:
    """Apply one event; False when it must wait (an invoice before its subscription)."""
    obj = event["data"]["object"]
    at = _ts(event["created"])
    if event["type"].startswith("customer.subscription."):
        item = obj["items"]["data"][0]
        cur.execute(
            _SUBSCRIPTION,
            {
                "id": uuid.uuid4().hex,
                "sub": obj["id"],
                "status": _STATUS[obj["status"]],
                "start": _ts(item["current_period_start"]),
                "end": _ts(item["current_period_end"]),
                "cancel": bool(obj["cancel_at_period_end"]),
                "currency": obj["currency"],
                "quantity": item["quantity"],
                "at": at,
                "customer": obj["customer"],
                "price": item["price"]["id"],
            },
        )
        return True
    sub = obj.get("subscription") or obj["parent"]["subscription_details"]["subscription"]
    cur.execute(
        _INVOICE,
        {
            "id": uuid.uuid4().hex,
            "inv": obj["id"],
            "number": obj["number"] or obj["id"],
            "status": _INVOICE_STATUS[obj["status"]],
            "currency": obj["currency"],
            "subtotal": obj["subtotal"] / 100,
            "total": obj["total"] / 100,
            "paid": obj["amount_paid"] / 100,
            "due": obj["amount_due"] / 100,
            "start": _ts(obj["period_start"]),
            "end": _ts(obj["period_end"]),
            "paid_at": _ts(obj["status_transitions"]["paid_at"]),
            "at": at,
            "sub": sub,
        },
    )
    if cur.fetchone() is not None:
        return True
    cur.execute("SELECT 1 FROM subscriptions WHERE stripe_subscription_id = %s", (sub,))
    return cur.fetchone() is not None  # found but older: applied as a no-op


def store(cur: psycopg.Cursor[Any], event: dict[str, Any]) -> str | None:
    cur.execute(
        _STORE,
        (
            uuid.uuid4().hex,
            event["id"],
            event["type"],
            event["data"]["object"].get("id"),
            event.get("api_version"),
            bool(event.get("livemode")),
            _ts(event["created"]),
            json.dumps(event),
        ),
    )
    row = cur.fetchone()
    return None if row is None else str(row[0])


def inline(dsn: str, signed: list[tuple[bytes, str]], secret: str, now: int) -> float:
    """One transaction per delivery: verify, store, apply, mark; then a pass for waiters."""
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for body, header in signed:
            event = verify(body, header, secret, now)
            with conn.transaction(), conn.cursor() as cur:
                row_id = store(cur, event)
                if row_id is not None and apply(cur, event):
                    cur.execute(_DONE, (row_id,))
        drain(conn, batch=1000, skip_locked=False)
    return time.perf_counter() - started


_DUE = """
SELECT e.id, e.payload FROM paykit_webhook_events e
WHERE e.status = 'pending' AND NOT EXISTS (
    SELECT 1 FROM paykit_webhook_events o
    WHERE o.object_id = e.object_id AND o.status = 'pending'
      AND (o.event_created_at, o.id) < (e.event_created_at, e.id))
ORDER BY e.event_created_at, e.id LIMIT %s"""


def drain(conn: psycopg.Connection[Any], *, batch: int, skip_locked: bool) -> int:
    """Apply pending rows until none is left that can be applied; rows applied."""
    applied = 0
    while True:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_DUE + (" FOR UPDATE OF e SKIP LOCKED" if skip_locked else ""), (batch,))
            rows = cur.fetchall()
            done = 0
            for row_id, payload in rows:
                event = payload if isinstance(payload, dict) else json.loads(payload)
                if apply(cur, event):
                    cur.execute(_DONE, (row_id,))
                    done += 1
        applied += done
        if not rows:
            return applied
        if done == 0:
            time.sleep(0.002)  # waiting on another worker's subscription


def workers(
    dsn: str, signed: list[tuple[bytes, str]], secret: str, now: int, n: int
) -> tuple[float, float]:
    """Ingest (verify, store pending) in one thread, then apply with ``n`` threads."""
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        for body, header in signed:
            event = verify(body, header, secret, now)
            with conn.transaction(), conn.cursor() as cur:
                store(cur, event)
    ingest = time.perf_counter() - started

    def work() -> None:
        with psycopg.connect(dsn) as conn:
            drain(conn, batch=20, skip_locked=True)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ingest, time.perf_counter() - started
