"""Small SQL helpers shared by the services."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = ["affected"]


def affected(session: Session, statement: sa.Executable) -> int:
    """Execute a Core UPDATE/DELETE without touching the identity map; rows affected.

    The count is what makes a conditional update a guard: 1 means this call
    won, 0 means the condition (stock left, uses left, state) did not hold.
    """
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(cast(sa.CursorResult[Any], result).rowcount)
