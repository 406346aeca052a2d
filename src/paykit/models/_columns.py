"""Shorthands for the column kinds the seed uses, so each model reads like the seed."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from paykit.models.types import ExactDecimal, JSONDocument


def money(precision: int = 10, scale: int = 2) -> ExactDecimal:
    """``Decimal(10, 2)`` by default, exact on every database."""
    return ExactDecimal(precision, scale)


def enum(cls: type[StrEnum], name: str) -> sa.Enum:
    """A native PostgreSQL enum type ``name``; a CHECK constraint on SQLite."""
    return sa.Enum(
        cls,
        name=name,
        native_enum=True,
        create_constraint=True,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


def fk(target: str, ondelete: str) -> sa.ForeignKey:
    """A foreign key with the seed's ``onDelete`` action spelled out."""
    return sa.ForeignKey(target, ondelete=ondelete)


def reference(target: str, ondelete: str, **options: Any) -> Mapped[Any]:
    """A ``TEXT`` column holding the id of a row of ``target`` (``"users.id"``), with the
    seed's ``onDelete`` action; ``options`` go to ``mapped_column`` (``index=True``)."""
    return mapped_column(sa.Text(), fk(target, ondelete), **options)


def currency_column() -> Mapped[Any]:
    """The seed's ``currency String @default("USD")``: an ISO 4217 code, USD unless given."""
    return mapped_column(sa.Text(), default="USD", server_default="USD")


def metadata_column() -> Mapped[Any]:
    """The seed's ``metadata Json @default("{}")``, on the column ``metadata`` (the
    attribute is ``metadata_``: SQLAlchemy reserves ``metadata``)."""
    return mapped_column("metadata", JSONDocument, default=dict, server_default="{}")
