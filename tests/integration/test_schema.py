"""The migrated database holds the seed's schema: every table, column, enum, index and check."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from tests import seed_schema

FIELDS = seed_schema.fields()


def test_seed_counts_are_what_the_issue_promises() -> None:
    # Guards the parser itself: if it misread the seed, every other test here lies.
    assert len(seed_schema.models()) == 20
    assert len(seed_schema.enums()) == 14
    assert len(FIELDS) == 241
    assert len(seed_schema.indexes()) == 15
    assert len(seed_schema.checks()) == 5


def _columns(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    inspector = sa.inspect(engine)
    out = {}
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            out[(table, column["name"])] = column
    return out


def test_every_seed_table_exists(engine: Engine) -> None:
    tables = set(sa.inspect(engine).get_table_names())
    missing = set(seed_schema.models().values()) - tables
    assert not missing
    assert "product_category_links" in tables  # the implicit many-to-many


def _expected_pg_type(field: seed_schema.SeedField) -> str:
    if field.is_enum:
        return seed_schema.seed_enum_type_name(field.type)
    if field.is_list:
        return "TEXT[]"
    if field.type == "Decimal":
        assert field.db_attr is not None
        return "NUMERIC" + field.db_attr.removeprefix("Decimal").replace(" ", "")
    if field.type == "DateTime":
        return "DATE" if field.db_attr == "Date" else "TIMESTAMP WITH TIME ZONE"
    return {"String": "TEXT", "Int": "INTEGER", "Boolean": "BOOLEAN", "Json": "JSONB"}[field.type]


def _expected_sqlite_type(field: seed_schema.SeedField) -> str:
    if field.is_enum:
        return "VARCHAR"
    if field.is_list:
        return "JSON"
    if field.type == "Decimal":
        return "BIGINT"  # exact: 10**-scale units (docs/schema.md)
    if field.type == "DateTime":
        return "DATE" if field.db_attr == "Date" else "DATETIME"
    return {"String": "TEXT", "Int": "INTEGER", "Boolean": "BOOLEAN", "Json": "JSON"}[field.type]


def _render(engine: Engine, type_: sa.types.TypeEngine[object]) -> str:
    if isinstance(type_, postgresql.ENUM):
        return str(type_.name)
    rendered = type_.compile(dialect=engine.dialect).upper().replace(" ", "")
    if engine.dialect.name == "sqlite":
        return rendered.split("(")[0]
    return rendered.replace("WITHTIMEZONE", " WITH TIME ZONE")


# Personal data encrypted at rest (migration 0004; docs/schema.md, docs/security.md):
# these seed columns hold AES-GCM ciphertext, so their type is TEXT on both databases.
ENCRYPTED_COLUMNS = {("users", "date_of_birth"): "TEXT", ("users", "billing_address"): "TEXT"}


def test_encrypted_departures_are_seed_fields() -> None:
    # A typo in the departure list would silently skip nothing; make it fail instead.
    seed_columns = {(seed_schema.models()[f.model], f.column) for f in FIELDS}
    assert set(ENCRYPTED_COLUMNS) <= seed_columns


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.model}.{f.name}")
def test_seed_field_is_a_column(engine: Engine, field: seed_schema.SeedField) -> None:
    table = seed_schema.models()[field.model]
    columns = _columns_cached(engine)
    column = columns.get((table, field.column))
    assert column is not None, f"{table}.{field.column} missing"
    # Nullability follows the seed's `?`: nothing here is a departure.
    assert column["nullable"] == field.optional
    if (table, field.column) in ENCRYPTED_COLUMNS:
        expected = ENCRYPTED_COLUMNS[(table, field.column)]
    elif engine.dialect.name == "postgresql":
        expected = _expected_pg_type(field)
    else:
        expected = _expected_sqlite_type(field)
    assert _render(engine, column["type"]) == expected


_cache: dict[int, dict[tuple[str, str], dict[str, object]]] = {}


def _columns_cached(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    if id(engine) not in _cache:
        _cache[id(engine)] = _columns(engine)
    return _cache[id(engine)]


def test_no_unexpected_columns(engine: Engine) -> None:
    # Every column of a seed table is a seed field: departures are listed here
    # and in docs/schema.md, so an accidental extra column fails.
    expected = {(seed_schema.models()[f.model], f.column) for f in FIELDS}
    expected |= {
        # Stripe event ordering (migration 0003; docs/schema.md, docs/stripe.md).
        ("subscriptions", "stripe_event_created_at"),
        ("invoices", "stripe_event_created_at"),
        # Review moderation (migration 0008; docs/schema.md, docs/storefront.md).
        ("product_reviews", "hidden_at"),
        # Subscription lifecycle: cancellation details, trials, dunning, scheduled
        # changes, prorations (migration 0013; docs/schema.md, docs/subscriptions.md).
        *(
            ("subscriptions", column)
            for column in (
                "cancellation_reason",
                "cancellation_feedback",
                "cancellation_comment",
                "trial_end_behavior",
                "past_due_since",
                "payment_attempts",
                "next_payment_attempt_at",
                "pending_price_id",
                "pending_quantity",
                "pending_change_at",
                "pending_proration",
            )
        ),
        # The subscription's own payment method (migration 0017; docs/schema.md,
        # docs/subscriptions.md).
        ("subscriptions", "default_payment_method_id"),
        # Card expiry and invoice details (migration 0012; docs/schema.md, docs/billing.md).
        ("payment_methods", "expires_at"),
        ("invoices", "discount"),
        ("invoices", "hosted_invoice_url"),
        ("invoices", "invoice_pdf"),
    }
    actual = {key for key in _columns(engine) if key[0] in set(seed_schema.models().values())}
    assert actual - expected == set()


def test_enums_have_the_seed_values(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.typname, e.enumlabel FROM pg_type t JOIN pg_enum e "
                "ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = current_schema() ORDER BY t.typname, e.enumsortorder"
            )
        ).all()
    found: dict[str, list[str]] = {}
    for name, label in rows:
        found.setdefault(name, []).append(label)
    expected = {seed_schema.seed_enum_type_name(k): v for k, v in seed_schema.enums().items()}
    assert found == expected


def test_sqlite_enforces_enum_values(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.exec_driver_sql(
            "INSERT INTO users (id, email, role, status, timezone, language, email_verified,"
            " created_at, updated_at) VALUES ('u1', 'a@b.co', 'ROOT', 'ACTIVE', 'UTC', 'en',"
            " 0, '2025-01-01', '2025-01-01')"
        )


def _index_map(engine: Engine) -> dict[str, tuple[str, list[str], str]]:
    """Index name -> (table, columns, the DDL the database keeps for it)."""
    inspector = sa.inspect(engine)
    if engine.dialect.name == "postgresql":
        ddl_sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        ddl_sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
    with engine.connect() as conn:
        ddl = {name: sql or "" for name, sql in conn.exec_driver_sql(ddl_sql)}
    out = {}
    for table in inspector.get_table_names():
        for index in inspector.get_indexes(table):
            cols = [c if c is not None else "?" for c in index["column_names"]]
            out[index["name"]] = (table, cols, ddl[index["name"]])
    return out


@pytest.mark.parametrize("index", seed_schema.indexes(), ids=lambda i: i.name)
def test_seed_index_exists_or_is_covered_by_a_unique(
    engine: Engine, index: seed_schema.SeedIndex
) -> None:
    columns = [c.split()[0] for c in index.columns]
    indexes = _index_map(engine)
    if index.name in indexes:
        table, cols, ddl = indexes[index.name]
        assert (table, cols) == (index.table, columns)
        for col in index.columns:
            if col.endswith("DESC"):
                assert f"{col.split()[0]} desc" in ddl.lower(), ddl
        return
    # Skipped only where a unique constraint gives the same index (docs/schema.md).
    uniques = sa.inspect(engine).get_unique_constraints(index.table)
    assert any(u["column_names"] == columns for u in uniques), f"{index.name} is missing"


def test_seed_checks_exist(pg_engine: Engine) -> None:
    # SQLite's CHECKs are shown by behaviour in test_constraints.py.
    inspector = sa.inspect(pg_engine)
    for name, table in seed_schema.checks().items():
        names = {c["name"] for c in inspector.get_check_constraints(table)}
        assert name in names, (table, name)


def test_seed_check_email_uses_the_seed_regex(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        definition = conn.execute(
            sa.text(
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace "
                "WHERE c.conname = 'check_email_format' AND n.nspname = current_schema()"
            )
        ).scalar_one()
    assert "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$" in definition
