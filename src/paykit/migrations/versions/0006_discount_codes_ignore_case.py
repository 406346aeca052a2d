"""Discount codes are one code whatever their case: a unique index on lower(code)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 17:00:00.000000

A database that already holds two codes differing only in case (``PROMOX`` and
``promox``) cannot take the index, and paykit cannot choose which of them
customers mean: the upgrade stops with a ``Conflict``
(``discount_code_case_collision``) that names every such group, and changes
nothing. Rename or delete all but one code of each group, then migrate again.
Offline (SQL script) mode cannot look at the rows and skips the check; the
index creation itself then fails on such data.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from paykit.errors import Conflict

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLLIDING = sa.text(
    "SELECT code FROM discounts WHERE lower(code) IN "
    "(SELECT lower(code) FROM discounts GROUP BY lower(code) HAVING count(*) > 1)"
)


def _refuse_case_collisions() -> None:
    groups: dict[str, list[str]] = {}
    for (code,) in op.get_bind().execute(_COLLIDING):
        groups.setdefault(code.lower(), []).append(code)
    if not groups:
        return
    codes = [sorted(group) for _, group in sorted(groups.items())]
    listed = "; ".join(", ".join(group) for group in codes)
    raise Conflict(
        "discount codes are now case-insensitive, and these codes differ only in case: "
        f"{listed}. Rename or delete all but one code of each group, then migrate again.",
        code="discount_code_case_collision",
        details={"codes": codes},
    )


def upgrade() -> None:
    if not context.is_offline_mode():
        _refuse_case_collisions()
    op.create_index("uq_discounts_lower_code", "discounts", [sa.text("lower(code)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_discounts_lower_code", table_name="discounts")
