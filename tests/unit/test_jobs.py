"""paykit._jobs._drain: batches until one is short, and never loops on rows that do not move."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._jobs import _drain


def _calls(batches: Sequence[list[str]]) -> tuple[list[int], Any]:
    made: list[int] = []
    source: Iterator[list[str]] = iter(batches)

    def call(session: Session) -> list[str]:
        made.append(1)
        return next(source, [])

    return made, call


def test_batches_until_one_is_short() -> None:
    engine = sa.create_engine("sqlite://")
    made, call = _calls([["a", "b"], ["c", "d"], ["e"]])
    assert _drain(engine, call, 2) == ["a", "b", "c", "d", "e"]
    assert len(made) == 3


def test_a_full_batch_of_rows_already_seen_stops_the_job() -> None:
    # A gateway that answers but changes nothing keeps returning the same rows.
    engine = sa.create_engine("sqlite://")
    made, call = _calls([["a", "b"]] * 50)
    assert _drain(engine, call, 2) == ["a", "b"]
    assert len(made) == 2
