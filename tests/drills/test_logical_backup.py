"""Drill 1: a logical backup (``pg_dump -Fc``) restored into a new database.

The runbook's steps (docs/operations.md, "Backups and recovery"), on a
database filled through paykit's services: dump, restore into an empty
database with ``pg_restore``, then ``paykit check`` passes and every table
holds the same rows (count and an md5 of the rows) as the original. The
restored database is then used: an old order is read and refunded and a new
one placed, so the restore is not just rows but a working shop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session
from tests.drills.pgcluster import client_tool
from tests.drills.shop import (
    ADDRESS,
    assert_check_passes,
    open_shop,
    refund,
    table_fingerprints,
    trade,
)

import paykit
from paykit.security import Actor


def _connection_args(url: URL) -> list[str]:
    return [
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]


def test_pg_dump_restores_a_consistent_copy(
    scratch_database: Callable[[], URL], tmp_path: Path
) -> None:
    source_url, target_url = scratch_database(), scratch_database()
    source = paykit.create_engine(source_url)
    paykit.migrate(source)
    with Session(source) as session:
        shop = open_shop(session)
        batches = [trade(shop, session) for _ in range(3)]
        session.commit()
    before = table_fingerprints(source)
    assert before["orders"][0] == 18
    assert before["subscriptions"][0] == 1
    assert before["paykit_webhook_events"][0] == 6
    assert_check_passes(source)

    dump = tmp_path / "paykit.dump"
    client_tool(
        "pg_dump",
        *_connection_args(source_url),
        "-Fc",
        "-f",
        dump,
        "-d",
        str(source_url.database),
        password=source_url.password,
    )
    listing = client_tool("pg_restore", "--list", dump).stdout
    assert "TABLE DATA public orders" in listing
    client_tool(
        "pg_restore",
        *_connection_args(target_url),
        "--exit-on-error",
        "--no-owner",
        "-d",
        str(target_url.database),
        dump,
        password=target_url.password,
    )

    target = paykit.create_engine(target_url)
    try:
        assert table_fingerprints(target) == before
        assert_check_passes(target)
        assert paykit.current_revision(target) == paykit.head_revision()
        order_id = batches[0].orders[0]
        with Session(target) as session:
            seen = paykit.get_order(
                session,
                actor=Actor(shop.customer_id, paykit.models.UserRole.CUSTOMER),
                order_id=order_id,
            )
            assert seen.id == order_id
            refund(shop, session, order_id)
            placed = paykit.place_order(
                session,
                customer_id=shop.customer_id,
                items=[{"price_id": shop.widget_price_id, "quantity": 1}],
                billing_address=ADDRESS,
                gateway=shop.gateway,
                clock=shop.clock,
            )
            session.commit()
            assert placed.order.status is paykit.models.OrderStatus.PENDING
        assert_check_passes(target)
    finally:
        target.dispose()
        source.dispose()
