"""Replica test: paykit's read side on a streaming standby.

A primary cluster of its own and a hot standby made with ``pg_basebackup -R``
(another port, streaming replication). Orders written on the primary after
the standby started are waited for (``pg_last_wal_replay_lsn``), then the
read-only public functions (``get_order``, ``list_orders``, ``view_order``,
``quote_order``, ``list_users``, ``check``) run on a Session bound to the
standby and agree with the primary; a write through that Session fails with
PostgreSQL's read-only error, and charges nobody.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.drills.pgcluster import Cluster, Workspace, wait_for
from tests.drills.shop import ADDRESS, Batch, Shop, assert_check_passes, open_shop, trade

import paykit
from paykit import models as m
from paykit.security import Actor

DATABASE = "shop"


@dataclass
class Pair:
    primary: Cluster
    standby: Cluster
    primary_engine: Engine
    standby_engine: Engine
    shop: Shop
    later: Batch  # written on the primary while the standby was streaming


def _replayed(standby: Cluster, lsn: str) -> bool:
    return bool(standby.sql(f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{lsn}') >= 0"))


@pytest.fixture(scope="module")
def pair(space: Workspace) -> Pair:
    primary = space.cluster("primary")
    primary.start()
    primary.create_database(DATABASE)
    primary_engine = primary.engine(DATABASE)
    paykit.migrate(primary_engine)
    with Session(primary_engine) as session:
        shop = open_shop(session)
        trade(shop, session)
        session.commit()

    standby = space.standby("standby", primary, hot_standby="on")
    standby.start()
    assert standby.in_recovery()
    wait_for(
        lambda: standby.sql("SELECT status FROM pg_stat_wal_receiver") == "streaming",
        "the standby to stream from the primary",
    )
    with Session(primary_engine) as session:
        later = trade(shop, session)
        session.commit()
    lsn = str(primary.sql("SELECT pg_current_wal_lsn()"))
    wait_for(lambda: _replayed(standby, lsn), f"the standby to replay up to {lsn}")
    return Pair(primary, standby, primary_engine, standby.engine(DATABASE), shop, later)


def _summary(view: paykit.OrderView) -> tuple[object, ...]:
    # OrderView holds the ORM items themselves, which compare by identity.
    items = sorted((item.product_id, item.quantity, item.total_price) for item in view.items)
    return (view.id, view.status, view.total_amount, view.refunded_amount, items)


def test_the_standby_is_a_streaming_read_only_copy(pair: Pair) -> None:
    assert (
        pair.primary.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1
    )
    assert pair.standby.sql("SHOW transaction_read_only") == "on"


def test_reads_on_the_standby_agree_with_the_primary(pair: Pair) -> None:
    shop = pair.shop
    customer = Actor(shop.customer_id, m.UserRole.CUSTOMER)
    admin = Actor(shop.admin_id, m.UserRole.ADMIN)
    items = [{"price_id": shop.widget_price_id, "quantity": 3}]
    results = {}
    for side, engine in (("primary", pair.primary_engine), ("standby", pair.standby_engine)):
        with Session(engine) as session:
            newest = pair.later.orders[0]
            listed = []
            page = paykit.list_orders(session, actor=admin, limit=100)
            listed += [order.id for order in page.items]
            results[side] = (
                paykit.get_order(session, actor=customer, order_id=newest).model_dump(),
                sorted(listed),
                _summary(paykit.view_order(session, actor=admin, order_id=newest)),
                paykit.quote_order(
                    session,
                    customer_id=shop.customer_id,
                    items=items,
                    discount_code="SAVE10",
                    clock=shop.clock,
                ),
                [
                    (row.user.id, row.order_count, row.total_spent)
                    for row in paykit.list_users(session, actor=admin)
                ],
            )
    assert results["standby"] == results["primary"]
    got, listed = results["standby"][0], results["standby"][1]
    assert got["id"] == pair.later.orders[0]
    assert set(pair.later.orders) <= set(listed)
    assert len(listed) == 12
    assert_check_passes(pair.standby_engine)


def test_a_write_on_the_standby_fails_and_charges_nobody(pair: Pair) -> None:
    shop = pair.shop
    charged_before = len(shop.gateway.charges)
    with Session(pair.standby_engine) as session:
        # place_order creates the gateway payment before its INSERT; the INSERT is
        # refused, so the payment is voided and the error says nothing was charged.
        with pytest.raises(paykit.PaykitError) as refused:
            paykit.place_order(
                session,
                customer_id=shop.customer_id,
                items=[{"price_id": shop.widget_price_id, "quantity": 1}],
                billing_address=ADDRESS,
                gateway=shop.gateway,
                payment_method_id="pm_card_visa",
                clock=shop.clock,
            )
        assert refused.value.code == "order_not_recorded"
        assert "nothing was charged" in refused.value.message
        cause = refused.value.__cause__
        assert isinstance(cause, sa.exc.DBAPIError)
        assert isinstance(cause.orig, psycopg.errors.ReadOnlySqlTransaction)
        assert "in a read-only transaction" in str(cause)  # a writable CTE: "cannot execute SELECT"
        session.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="cannot execute UPDATE in a read-only"):
            session.execute(sa.update(m.Product).values(stock_quantity=0))
    assert len(shop.gateway.charges) == charged_before
    voided = [p for p in shop.gateway.payments.values() if p.status == "canceled"]
    assert voided, "the refused order's gateway payment was not voided"
