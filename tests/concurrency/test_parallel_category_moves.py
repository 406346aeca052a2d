"""Two moves racing to put two categories under each other: one wins, no cycle is made.

Each worker has its own connection and transaction and commits like a host.
On PostgreSQL the moves are serialized by an advisory lock; on SQLite by
``BEGIN IMMEDIATE``. Without serialization both moves would see no cycle and
both commit, leaving a loop no tree walk could leave.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.errors import InvalidState
from paykit.security import Actor


def test_crossed_moves_never_make_a_cycle(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated(pool_size=4, max_overflow=0)
    with Session(engine) as session, session.begin():
        admin = Actor.of(f.user(session, role=m.UserRole.ADMIN))
        pairs = [(f.category(session).id, f.category(session).id) for _ in range(5)]
    for a, b in pairs:
        start = threading.Barrier(2)

        def move(category_id: str, parent_id: str, start: threading.Barrier = start) -> str:
            with Session(engine) as session, session.begin():
                start.wait()
                try:
                    paykit.move_category(
                        session, actor=admin, category_id=category_id, parent_id=parent_id
                    )
                except InvalidState as exc:
                    return exc.code
            return "moved"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(lambda args: move(*args), [(a, b), (b, a)]))
        assert outcomes == ["category_cycle", "moved"]
        with Session(engine) as session:
            parents = {
                c.id: c.parent_id
                for c in session.query(m.ProductCategory).filter(m.ProductCategory.id.in_([a, b]))
            }
        assert parents in ({a: b, b: None}, {a: None, b: a})
