"""Parses the seed's Prisma schema (a copy lives in tests/fixtures) into plain facts.

The tests compare the migrated database against these facts, so the seed, not
paykit's own models, is the yardstick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEED = Path(__file__).parent / "fixtures" / "database_schema.md"
SCALARS = {"String", "Int", "Boolean", "DateTime", "Json", "Decimal"}


@dataclass(frozen=True)
class SeedField:
    model: str
    name: str
    column: str
    type: str  # String, Int, ..., or an enum name
    optional: bool
    is_list: bool
    db_attr: str | None  # e.g. "Decimal(10, 2)" or "Date"
    is_enum: bool


@dataclass(frozen=True)
class SeedIndex:
    name: str
    table: str
    columns: tuple[str, ...]  # "created_at DESC" kept as written


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _prisma() -> str:
    text = SEED.read_text()
    return text.split("```prisma", 1)[1].split("```", 1)[0]


def enums() -> dict[str, list[str]]:
    found = re.findall(r"^enum (\w+) \{(.*?)^\}", _prisma(), re.S | re.M)
    return {name: [v.strip() for v in body.split() if v.strip()] for name, body in found}


def models() -> dict[str, str]:
    """Model name -> table name (``@@map``)."""
    out = {}
    for name, body in re.findall(r"^model (\w+) \{(.*?)^\}", _prisma(), re.S | re.M):
        out[name] = re.search(r'@@map\("(\w+)"\)', body).group(1)
    return out


def fields() -> list[SeedField]:
    enum_names = set(enums())
    out = []
    for model, body in re.findall(r"^model (\w+) \{(.*?)^\}", _prisma(), re.S | re.M):
        for raw in body.splitlines():
            line = raw.split("//", 1)[0].strip()
            if not line or line.startswith("@@"):
                continue
            name, type_ = line.split()[:2]
            base = type_.rstrip("?").removesuffix("[]")
            if base not in SCALARS and base not in enum_names:
                continue  # a relation field
            db_attr = re.search(r"@db\.(\w+(?:\(\d+, ?\d+\))?)", line)
            out.append(
                SeedField(
                    model=model,
                    name=name,
                    column=snake(name),
                    type=base,
                    optional=type_.endswith("?"),
                    is_list=type_.endswith("[]"),
                    db_attr=db_attr.group(1) if db_attr else None,
                    is_enum=base in enum_names,
                )
            )
    return out


def indexes() -> list[SeedIndex]:
    text = SEED.read_text()
    out = []
    for name, table, cols in re.findall(r"CREATE INDEX (\w+) ON (\w+)\(([^)]*)\);", text):
        out.append(SeedIndex(name, table, tuple(c.strip() for c in cols.split(","))))
    return out


def checks() -> dict[str, str]:
    """Constraint name -> table, from section 5.2."""
    text = SEED.read_text()
    return {
        name: table
        for table, name in re.findall(r"ALTER TABLE (\w+) ADD CONSTRAINT (\w+) CHECK", text)
    }


def seed_enum_type_name(enum_name: str) -> str:
    """paykit's PostgreSQL type name for a seed enum (``UserRole`` -> ``user_role``)."""
    return snake(enum_name)
