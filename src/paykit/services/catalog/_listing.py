"""The catalog listing behind ``list_products`` and ``list_products_admin``.

One prebuilt statement per shape of filter (which filters are present, the
sort, the search mode, the dialect), cached, so a call binds values instead of
building and hashing a SQLAlchemy statement. On PostgreSQL the statement
returns the whole page as one JSON text, each product with its active prices
(amounts as text) and visible review count; SQLite reads rows, and prices and
counts with two more statements (in-process, a round trip costs nothing).
Search: PostgreSQL full text on the GIN index; SQLite FTS5 (revision 0016)
ranked with ``bm25``; a LIKE fallback on a SQLite build without FTS5.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from paykit.errors import ValidationError
from paykit.models import (
    Price,
    Product,
    ProductReview,
    ProductStatus,
    ProductType,
    product_category_links,
)
from paykit.models.catalog import product_search_document
from paykit.models.types import as_utc
from paykit.money import normalize_currency
from paykit.services.catalog._common import (
    MAX_SEARCH_LENGTH,
    Key,
    decode_cursor,
    encode_cursor,
    price_bound,
)
from paykit.services.catalog.categories import descendant_ids
from paykit.services.catalog.out import PriceOut, ProductOut
from paykit.services.reads import Page, assemble, assemble_all, check_page_limit
from paykit.services.reviews import SHOWN_REVIEW

__all__ = [
    "PRODUCT_COLUMNS",
    "PRODUCT_FIELDS",
    "SORTS",
    "active_prices",
    "list_page",
    "parse_prices",
    "prices_json",
    "product_fields",
    "review_counts",
]

#: The sort orders of ``list_products``; ``relevance`` needs ``search``.
SORTS = ("featured", "newest", "price_asc", "price_desc", "relevance")
_WORD = re.compile(r"\w+", re.UNICODE)
#: bm25 weights of products_fts's columns: product_id (unindexed), name, short
#: description, description.
_BM25_WEIGHTS = (0.0, 10.0, 5.0, 1.0)
_MAX_WORDS = 16


def _search_text(search: str | None) -> str | None:
    if search is None:
        return None
    text = " ".join(search.split())
    if not text or len(text) > MAX_SEARCH_LENGTH or not _WORD.search(text):
        raise ValidationError(
            f"search must hold a word and at most {MAX_SEARCH_LENGTH} characters",
            code="invalid_search",
            details={"field": "search"},
        )
    return text


def _search_mode(session: Session) -> str:
    """``postgresql``, ``fts5`` (SQLite with revision 0016's index) or ``like``."""
    if session.get_bind().dialect.name == "postgresql":
        return "postgresql"
    found = session.connection().exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'products_fts'"
    )
    return "fts5" if found.first() is not None else "like"


def _fts_query(words: Sequence[str]) -> str:
    """Every word as a quoted FTS5 prefix term: user text never reaches FTS5's syntax."""
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def _like_pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(mode: str, words: int) -> tuple[sa.ColumnElement[bool], Key]:
    """The search condition and its relevance key, with the search as bind parameters.

    PostgreSQL: ``:search`` through ``websearch_to_tsquery``. FTS5: ``:fts``
    (see :func:`_fts_query`); bm25 is lower for a better match, so the key is
    its negation. LIKE: ``:w0``... patterns; every word must appear in the
    name, short description or description; a name match ranks above a
    short description match.
    """
    if mode == "postgresql":
        query = sa.func.websearch_to_tsquery(
            sa.literal_column("'english'::regconfig"), sa.bindparam("search", type_=sa.Text())
        )
        document = product_search_document()
        # float8, not ts_rank's float4: the driver rounds a float4 to its shortest
        # decimal, which would not compare equal to itself in the next page's keyset.
        rank: sa.ColumnElement[float] = sa.cast(sa.func.ts_rank(document, query), sa.Double())
        return document.op("@@")(query), Key(rank, "float")
    if mode == "fts5":
        table: sa.ColumnElement[Any] = sa.literal_column("products_fts")
        condition = table.op("MATCH")(sa.bindparam("fts", type_=sa.Text()))
        score = -sa.func.bm25(table, *_BM25_WEIGHTS)
        return condition, Key(sa.type_coerce(score, sa.Double()), "float")
    conditions = []
    like_score: sa.ColumnElement[Any] = sa.literal(0)
    for n in range(words):
        pattern = sa.bindparam(f"w{n}", type_=sa.Text())

        def like(column: Any, pattern: Any = pattern) -> sa.ColumnElement[bool]:
            return sa.func.coalesce(column, "").like(pattern, escape="\\")

        conditions.append(
            sa.or_(like(Product.name), like(Product.short_description), like(Product.description))
        )
        like_score = (
            like_score
            + sa.case((like(Product.name), 2), else_=0)
            + sa.case((like(Product.short_description), 1), else_=0)
        )
    return sa.and_(*conditions), Key(sa.type_coerce(like_score, sa.Integer()), "int")


def _sort_keys(sort: str, relevance: Key | None) -> tuple[list[Key], bool]:
    created = Key(Product.created_at, "time")
    if sort == "featured":
        return [Key(Product.featured, "bool"), created, Key(Product.id, "text")], True
    if sort == "newest":
        return [created, Key(Product.id, "text")], True
    if sort == "price_asc":
        return [Key(Product.base_price, "money"), Key(Product.id, "text")], False
    if sort == "price_desc":
        return [Key(Product.base_price, "money"), Key(Product.id, "text")], True
    if sort == "relevance" and relevance is not None:
        return [relevance, Key(Product.id, "text")], True
    raise ValidationError(
        f"sort must be one of {', '.join(SORTS)} (relevance needs search)",
        code="invalid_sort",
        details={"field": "sort", "allowed": list(SORTS)},
    )


_PRICE_COLUMNS = (
    Price.id,
    Price.nickname,
    Price.unit_amount,
    Price.currency,
    sa.type_coerce(Price.type, sa.Text()).label("type"),
    Price.recurring,
)
_PRICE_FIELDS = tuple(c.key for c in _PRICE_COLUMNS)
_ACTIVE_PRICES = (
    sa.select(Price.product_id, *_PRICE_COLUMNS)
    .where(Price.product_id.in_(sa.bindparam("ids", expanding=True)), Price.active.is_(True))
    .order_by(Price.product_id, Price.unit_amount, Price.id)
)
_REVIEW_COUNTS = (
    sa.select(ProductReview.product_id, sa.func.count())
    .where(
        ProductReview.product_id.in_(sa.bindparam("ids", expanding=True)),
        SHOWN_REVIEW,
    )
    .group_by(ProductReview.product_id)
)


def active_prices(session: Session, ids: Sequence[str]) -> dict[str, list[PriceOut]]:
    found: dict[str, list[PriceOut]] = defaultdict(list)
    if ids:
        for product_id, *values in session.connection().execute(_ACTIVE_PRICES, {"ids": ids}):
            found[product_id].append(
                assemble(PriceOut, dict(zip(_PRICE_FIELDS, values, strict=True)))
            )
    return found


def review_counts(session: Session, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = session.connection().execute(_REVIEW_COUNTS, {"ids": ids})
    return {product_id: int(count) for product_id, count in rows}


def prices_json(product_id: Any) -> Any:
    """PostgreSQL: a product's active prices as a JSON array (amounts as text), cheapest first."""
    values = [
        sa.cast(Price.unit_amount, sa.Text()) if c is Price.unit_amount else c
        for c in _PRICE_COLUMNS
    ]
    aggregated = sa.func.json_agg(
        postgresql.aggregate_order_by(
            sa.func.json_build_array(*values), Price.unit_amount, Price.id
        )
    )
    return (
        sa.select(sa.func.coalesce(aggregated, sa.literal_column("'[]'::json")))
        .where(Price.product_id == product_id, Price.active.is_(True))
        .scalar_subquery()
    )


def _reviews_count(product_id: Any) -> Any:
    return (
        sa.select(sa.func.count())
        .where(ProductReview.product_id == product_id, SHOWN_REVIEW)
        .scalar_subquery()
    )


class _Shape(NamedTuple):
    """What a listing statement depends on (values travel as bind parameters)."""

    dialect: str
    statuses: tuple[ProductStatus, ...]
    search: str | None  # the search mode, or None without search
    words: int
    sort: str
    category: bool
    kind: bool
    featured: bool
    low: bool
    high: bool
    currency: bool
    after: bool


_FTS = sa.table("products_fts", sa.column("product_id"))
_TABLE = Product.__table__


@functools.lru_cache(maxsize=256)
def _statement(shape: _Shape) -> tuple[sa.Select[Any], list[Key], tuple[str | int, ...]]:
    """The page statement of one shape, its sort keys and where each key's value is in a row."""
    condition, relevance = _matches(shape.search, shape.words) if shape.search else (None, None)
    keys, descending = _sort_keys(shape.sort, relevance)
    query = sa.select(*PRODUCT_COLUMNS, *(k.expr.label(f"key{n}") for n, k in enumerate(keys)))
    # The statuses are written into the SQL text: with a bound status a prepared
    # statement's generic plan stops trusting the catalog-order index (it sorted
    # every product, 5 ms instead of 0.4 ms at 100,000 products). Literal columns,
    # not a literal_execute parameter, which SQLAlchemy re-renders on every call.
    query = query.where(
        Product.status.in_(
            [sa.literal_column(f"'{ProductStatus(s).value}'") for s in shape.statuses]
        )
    )
    if shape.search == "fts5":
        query = query.join(_FTS, _FTS.c.product_id == Product.id)
    if condition is not None:
        query = query.where(condition)
    if shape.category:
        in_tree = sa.select(product_category_links.c.product_id).where(
            product_category_links.c.category_id.in_(
                descendant_ids(sa.bindparam("category_id", type_=sa.Text()))  # type: ignore[arg-type]
            )
        )
        query = query.where(Product.id.in_(in_tree))
    if shape.kind:
        query = query.where(Product.type == sa.bindparam("kind"))
    if shape.featured:
        query = query.where(Product.featured == sa.bindparam("featured"))
    if shape.low:
        query = query.where(Product.base_price >= sa.bindparam("low"))
    if shape.high:
        query = query.where(Product.base_price <= sa.bindparam("high"))
    if shape.currency:
        query = query.where(Product.currency == sa.bindparam("currency"))
    if shape.after:
        # One row-value comparison, matched against the sort's B-tree index.
        left = sa.tuple_(*(k.expr for k in keys))
        right = sa.tuple_(
            *(sa.bindparam(f"after{n}", type_=k.expr.type) for n, k in enumerate(keys))
        )
        query = query.where(left < right if descending else left > right)
    order = [k.expr.desc() if descending else k.expr.asc() for k in keys]
    page = query.order_by(*order).limit(sa.bindparam("size", type_=sa.Integer())).subquery("page")
    # A sort key that is a product column is read from the page's last product
    # (its field's name); the others (a search's rank) follow the product columns
    # (their index in the row).
    columns: list[Any] = [page.c[name] for name in PRODUCT_FIELDS]
    key_at: list[str | int] = []
    for n, key in enumerate(keys):
        column = key.expr
        if isinstance(column, sa.Column) and column.table is _TABLE and column.key in _FIELDS:
            key_at.append(column.key)
        else:
            key_at.append(len(columns))
            columns.append(page.c[f"key{n}"])
    sort = [page.c[f"key{n}"] for n in range(len(keys))]
    ordering = [c.desc() if descending else c.asc() for c in sort]
    if shape.dialect == "postgresql":
        return _page_document(page, columns, ordering), keys, tuple(key_at)
    return sa.select(*columns).order_by(*ordering), keys, tuple(key_at)


def _page_document(page: Any, columns: list[Any], ordering: list[Any]) -> sa.Select[Any]:
    """PostgreSQL: the whole page as one JSON text, an array of one array per product.

    Each holds the row's columns (the base price as text), then its active
    prices and visible review count. One value to fetch and one ``json.loads``
    cost less than a driver and SQLAlchemy's work per row and column.
    """
    entry = sa.func.json_build_array(
        *(sa.cast(c, sa.Text()) if c.key == "base_price" else c for c in columns),
        prices_json(page.c.id),
        _reviews_count(page.c.id),
    )
    rows = sa.func.json_agg(postgresql.aggregate_order_by(entry, *ordering))
    document = sa.func.coalesce(rows, sa.literal_column("'[]'::json"))
    return sa.select(sa.cast(document, sa.Text())).select_from(page)


# A catalog page reads rows, not ORM objects. On PostgreSQL one statement
# returns the page as one JSON document with each product's active prices and
# visible review count, computed for the page's rows only; SQLite reads them
# with two more statements (in-process, a round trip costs nothing).
PRODUCT_COLUMNS = (
    Product.id,
    Product.name,
    Product.slug,
    Product.short_description,
    sa.type_coerce(Product.type, sa.Text()).label("type"),
    sa.type_coerce(Product.status, sa.Text()).label("status"),
    Product.base_price,
    Product.currency,
    Product.featured,
    Product.tags,
    Product.images,
    Product.billing_interval,
    Product.trial_days,
    Product.created_at,
    Product.published_at,
)
PRODUCT_FIELDS = tuple(c.key for c in PRODUCT_COLUMNS)
_FIELDS = frozenset(PRODUCT_FIELDS)


def product_fields(row: Sequence[Any]) -> dict[str, Any]:
    """The :data:`PRODUCT_COLUMNS` that lead ``row``, by name; tags and images as lists."""
    fields = dict(zip(PRODUCT_FIELDS, row, strict=False))
    fields["tags"] = list(fields["tags"] or [])
    fields["images"] = list(fields["images"] or [])
    return fields


_PRODUCT_PAGE = Page[ProductOut]


def list_page(
    session: Session,
    *,
    scope: str,
    statuses: Sequence[ProductStatus],
    search: str | None,
    category_id: str | None,
    type: ProductType | str | None,
    featured: bool | None,
    min_price: Decimal | None,
    max_price: Decimal | None,
    currency: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Page[ProductOut]:
    """One checked, keyset-paginated page of products (``docs/catalog.md``)."""
    check_page_limit(limit)
    text = _search_text(search)
    low, high = price_bound(min_price, "min_price"), price_bound(max_price, "max_price")
    if low is not None and high is not None and low > high:
        raise ValidationError(
            "min_price is above max_price",
            code="invalid_price_range",
            details={"field": "max_price"},
        )
    code = normalize_currency(currency) if currency is not None else None
    kind = ProductType(type) if type is not None else None
    if sort not in SORTS or (sort == "relevance" and text is None):
        _sort_keys(sort, None)  # raises invalid_sort
    words = _WORD.findall(text)[:_MAX_WORDS] if text is not None else []
    mode = _search_mode(session) if text is not None else None
    shape = _Shape(
        dialect=session.get_bind().dialect.name,
        statuses=tuple(statuses),
        search=mode,
        words=len(words) if mode == "like" else 0,
        sort=sort,
        category=category_id is not None,
        kind=kind is not None,
        featured=featured is not None,
        low=low is not None,
        high=high is not None,
        currency=code is not None,
        after=cursor is not None,
    )
    statement, keys, key_at = _statement(shape)
    flt = {
        "scope": scope,
        "statuses": tuple(sorted(s.value for s in statuses)),  # hashable, dumps as a list
        "search": text,
        "category_id": category_id,
        "type": kind.value if kind else None,
        "featured": featured,
        "min": str(low) if low is not None else None,
        "max": str(high) if high is not None else None,
        "currency": code,
        "sort": sort,
    }
    params: dict[str, Any] = {"size": limit + 1}
    if mode == "postgresql":
        params["search"] = text
    elif mode == "fts5":
        params["fts"] = _fts_query(words)
    elif mode == "like":
        params.update({f"w{n}": _like_pattern(word) for n, word in enumerate(words)})
    optional: dict[str, Any] = {"category_id": category_id, "kind": kind, "featured": featured}
    optional.update({"low": low, "high": high, "currency": code})
    params.update({name: value for name, value in optional.items() if value is not None})
    if cursor is not None:
        position = decode_cursor(cursor, flt, keys)
        params.update({f"after{n}": value for n, value in enumerate(position)})
    return _page_of(session, statement, shape.dialect, (keys, key_at), flt, limit, params)


def _page_of(
    session: Session,
    statement: sa.Select[Any],
    dialect: str,
    sort: tuple[list[Key], tuple[str | int, ...]],
    flt: dict[str, Any],
    limit: int,
    params: dict[str, Any],
) -> Page[ProductOut]:
    """The page ``statement`` reads: its products and the next page's cursor.

    ``sort`` is the sort's keys and where each key's value is: a product
    field's name, or an index in the row (see :func:`_statement`).
    """
    keys, key_at = sort
    result = session.connection().execute(statement, params)
    if dialect == "postgresql":
        rows: Sequence[Sequence[Any]] = json.loads(result.scalar_one())
        items = _pg_items(rows[:limit])
    else:
        rows = result.all()
        items = _items(session, rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last, values = rows[limit - 1], items[-1].__dict__
        position = [values[at] if isinstance(at, str) else last[at] for at in key_at]
        next_cursor = encode_cursor(flt, keys, position)
    return assemble(_PRODUCT_PAGE, {"items": items, "next_cursor": next_cursor})


def _items(session: Session, rows: Sequence[sa.Row[Any]]) -> list[ProductOut]:
    """SQLite: the page's products, with prices and review counts read by two statements."""
    ids = [row.id for row in rows]
    prices, reviews = active_prices(session, ids), review_counts(session, ids)
    items = []
    for row in rows:
        fields = product_fields(row)
        fields["prices"], fields["review_count"] = prices[row.id], reviews.get(row.id, 0)
        items.append(assemble(ProductOut, fields, in_order=True))  # built in field order
    return items


def parse_prices(raw: Sequence[Sequence[Any]]) -> list[PriceOut]:
    """PostgreSQL: the prices of :func:`prices_json`'s JSON array (amounts from text)."""
    prices = []
    for row in raw:
        fields = dict(zip(_PRICE_FIELDS, row, strict=True))
        fields["unit_amount"] = Decimal(fields["unit_amount"])
        prices.append(fields)
    return assemble_all(PriceOut, prices)


def _pg_items(rows: Sequence[Sequence[Any]]) -> list[ProductOut]:
    """PostgreSQL: the products of :func:`_page_document`'s JSON, parsed.

    What SQLAlchemy's result types and the driver do, done in one loop: the
    amounts from text, the times (ISO text in the session's time zone) to UTC.
    """
    products = []
    for row in rows:
        fields = product_fields(row)
        fields["base_price"] = Decimal(fields["base_price"])
        fields["created_at"] = as_utc(datetime.fromisoformat(fields["created_at"]))
        if fields["published_at"] is not None:
            fields["published_at"] = as_utc(datetime.fromisoformat(fields["published_at"]))
        fields["prices"] = parse_prices(row[-2])
        fields["review_count"] = row[-1]
        products.append(fields)
    return assemble_all(ProductOut, products)  # each built in field order
