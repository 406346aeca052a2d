"""Drill 2: point-in-time recovery from a base backup and archived WAL.

A cluster of its own (another port) archives its WAL to a directory
(``archive_mode=on``, ``archive_command`` copies each segment). The drill
takes a base backup (``pg_basebackup``), writes a batch *after* the backup
(so recovery must replay archived WAL, not just copy the backup), marks a
point (a named restore point and the time), writes a batch after the mark
that also refunds orders from before it, then restores the base backup
into a new data directory with ``restore_command`` and a recovery target,
once by name and once by time. On each recovered cluster ``paykit check``
passes and every table holds exactly the rows it held at the mark: same
counts, same md5 of the rows, none of the later orders and refunds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.drills.pgcluster import Workspace, wait_for
from tests.drills.shop import assert_check_passes, open_shop, refund, table_fingerprints, trade

import paykit
from paykit import models as m

DATABASE = "shop"
MARK = "paykit_drill_mark"


@dataclass
class Archived:
    """The primary's base backup and WAL archive, and the state at the mark."""

    backup: Path
    archive: Path
    mark_time: str
    at_mark: dict[str, tuple[int, str]]
    orders_at_mark: set[str]
    orders_after: list[str]
    refunds_after: list[str]
    refunded_after: list[str]  # orders from before the mark refunded after it


@pytest.fixture(scope="module")
def archived(space: Workspace) -> Archived:
    archive = space.directory("wal-archive")
    primary = space.cluster(
        "primary",
        archive_mode="on",
        archive_command=f"test ! -f {archive}/%f && cp %p {archive}/%f",
        wal_level="replica",
    )
    primary.start()
    primary.create_database(DATABASE)
    engine = primary.engine(DATABASE)
    paykit.migrate(engine)
    with Session(engine) as session:
        shop = open_shop(session)
        trade(shop, session)
        session.commit()

    backup = space.root / "base-backup"
    primary.base_backup(backup)

    with Session(engine) as session:  # after the backup: only the WAL archive holds it
        trade(shop, session)
        session.commit()
    primary.sql(f"SELECT pg_create_restore_point('{MARK}')")
    mark_time = str(primary.sql("SELECT clock_timestamp()::text"))
    at_mark = table_fingerprints(engine)
    with Session(engine) as session:
        orders_at_mark = set(session.scalars(sa.select(m.Order.id)))
    time.sleep(0.2)  # the next commits are well after the marked time

    with Session(engine) as session:
        refunded_after = list(shop.paid_orders[:2])
        refunds_after = [refund(shop, session, order_id) for order_id in refunded_after]
        later = trade(shop, session)
        session.commit()
    assert table_fingerprints(engine) != at_mark
    segment = str(primary.sql("SELECT pg_walfile_name(pg_switch_wal())"))
    wait_for(lambda: (archive / segment).exists(), f"WAL segment {segment} in the archive")
    primary.stop()
    return Archived(
        backup=backup,
        archive=archive,
        mark_time=mark_time,
        at_mark=at_mark,
        orders_at_mark=orders_at_mark,
        orders_after=later.orders,
        refunds_after=refunds_after + later.refunds,
        refunded_after=refunded_after,
    )


@pytest.mark.parametrize("target", ["name", "time"])
def test_point_in_time_recovery_restores_exactly_the_marked_state(
    space: Workspace, archived: Archived, target: str
) -> None:
    settings = {
        "restore_command": f"cp {archived.archive}/%f %p",
        "recovery_target_action": "promote",
        "archive_mode": "off",  # the restored cluster must not write into the drill's archive
    }
    if target == "name":
        settings["recovery_target_name"] = MARK
    else:
        settings["recovery_target_time"] = archived.mark_time
    restored = space.restored(f"restored-by-{target}", archived.backup, **settings)
    restored.touch("recovery.signal")
    restored.start()
    wait_for(lambda: not restored.in_recovery(), "the end of recovery (promotion)")
    assert "recovery stopping" in restored.tail(100)

    engine = restored.engine(DATABASE)
    assert table_fingerprints(engine) == archived.at_mark
    assert_check_passes(engine)
    with Session(engine) as session:
        ids = set(session.scalars(sa.select(m.Order.id)))
        assert ids == archived.orders_at_mark
        assert not ids & set(archived.orders_after)
        for refund_id in archived.refunds_after:
            assert session.get(m.Refund, refund_id) is None
        for order_id in archived.refunded_after:
            order = session.get(m.Order, order_id)
            assert order is not None
            assert order.status is m.OrderStatus.COMPLETED
    restored.stop()
