"""Payment methods, invoices, checkout sessions (reserved for the billing work)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:40:00.000000

Reserved in the chain so that parallel work can fill it in; until then it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
