"""Bad input on the whole public surface: a registered PaykitError, and no row changed.

Every public callable in ``paykit.__all__`` is discovered (functions, and the
classes a host constructs: not Protocols, enums, errors or the result objects
paykit returns), and called with arguments built from its signature: valid
values (ids of a small committed world) mixed with ``None``, wrong types,
unknown ids, empty, oversized and NUL-holding strings, out-of-range numbers and
amounts past their ``Numeric`` column. Each call must succeed or raise a
``PaykitError`` whose code is in ``paykit.errors.ERROR_CODES``, and a refused
call must leave every row as it was and nothing pending in the session.

One migrated database per backend holds the world; each example runs in a
SAVEPOINT that is rolled back. Rows changed are counted by the database itself
(SQLite's ``total_changes()``, PostgreSQL's ``pg_stat_xact_user_tables``).
"""

from __future__ import annotations

import copy
import enum
import inspect
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory, require_postgres

import paykit
from paykit import analytics, errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.security import Actor, Keyring, PasswordHasher, use_keyring
from paykit.testing import stripe_object

FAST = PasswordHasher(rounds=4, allow_weak=True)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"

# --------------------------------------------------------------------- discovery


def _names_in(annotation: object) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(annotation)))


def _result_types() -> set[str]:
    """Classes paykit returns (and what they hold): outputs, not inputs to fuzz."""
    exported = {n for n in paykit.__all__ if inspect.isclass(getattr(paykit, n))}
    found: set[str] = set()
    for name in paykit.__all__:
        obj = getattr(paykit, name)
        if inspect.isfunction(obj):
            found |= _names_in(inspect.signature(obj).return_annotation) & exported
    todo = list(found)
    while todo:
        cls = getattr(paykit, todo.pop())
        held: list[object] = []
        if is_dataclass(cls):
            held = [f.type for f in fields(cls)]
        elif isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
            held = [f.annotation for f in cls.model_fields.values()]
        for annotation in held:
            for n in _names_in(annotation) & exported - found:
                found.add(n)
                todo.append(n)
    return found


def public_callables() -> dict[str, Callable[..., Any]]:
    results = _result_types()
    out: dict[str, Callable[..., Any]] = {}
    for name in paykit.__all__:
        obj = getattr(paykit, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if inspect.isclass(obj) and (
            issubclass(obj, BaseException | enum.Enum)
            or getattr(obj, "_is_protocol", False)
            or name in results
        ):
            continue
        out[name] = obj
    return out


SURFACE = public_callables()
# paykit.analytics (not re-exported at the top): its readers, the rollup and the report.
# write_report only adds a file write to render_report: its own test covers it.
SURFACE.update(
    {
        f"analytics.{name}": getattr(analytics, name)
        for name in analytics.__all__
        if inspect.isfunction(getattr(analytics, name)) and name != "write_report"
    }
)

# They open connections and transactions of their own on what they are given:
# they get URLs of throw-away in-memory databases, never the world's connection.
OWN_CONNECTIONS = {"migrate", "downgrade", "current_revision"}


def test_discovery_finds_the_surface() -> None:
    assert _uses_a_database(paykit.place_order)
    assert not _uses_a_database(paykit.quantize)
    # Guards the discovery: a rename that emptied it would pass every property.
    assert {"place_order", "issue_refund", "create_product", "login", "FakeGateway"} <= set(SURFACE)
    assert "OrderResult" not in SURFACE
    assert "PaykitError" not in SURFACE
    assert len(SURFACE) >= 70


# --------------------------------------------------------------------- the world


@dataclass
class World:
    engine: Engine
    gateway: FakeGateway
    ids: dict[str, list[str]]
    emails: list[str]
    tokens: list[str]
    codes: list[str]
    refunds: list[Any]
    payments: list[Any]


def _build_world(engine: Engine) -> World:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock, namespace="world")
    ids: dict[str, list[str]] = {}
    with Session(engine) as s, s.begin(), use_keyring(None):
        seeded = paykit.seed(s, admin_password=PASSWORD, clock=clock)
        admin = seeded.admin
        users = [
            paykit.register_user(
                s,
                {"email": f"c{n}@example.com", "password": PASSWORD, "name": f"Customer {n}"},
                hasher=FAST,
                clock=clock,
            )
            for n in range(2)
        ]
        staff = Actor.of(admin)
        product = paykit.create_product(
            s,
            actor=staff,
            data={
                "name": "Widget",
                "description": "A widget for the fuzz world.",
                "base_price": Decimal("12.50"),
                "type": "ONE_TIME",
                "slug": "widget",
                "status": "PUBLISHED",
                "track_inventory": True,
                "stock_quantity": 100,
                "tax_rate": Decimal("0.08"),
            },
            clock=clock,
        )
        stripe_price = gateway.add_price(unit_amount=1250, currency="usd", interval=None)
        price = paykit.create_price(
            s,
            actor=staff,
            product_id=product.id,
            data={"stripe_price_id": stripe_price, "unit_amount": Decimal("12.50")},
            clock=clock,
        )
        monthly = gateway.add_price(unit_amount=900, currency="usd")
        recurring = paykit.create_price(
            s,
            actor=staff,
            product_id=seeded.product.id,
            data={
                "stripe_price_id": monthly,
                "unit_amount": Decimal("9.00"),
                "type": "RECURRING",
                "interval": "month",
            },
            clock=clock,
        )
        discount = paykit.create_discount(
            s,
            actor=staff,
            data={"code": "SAVE10", "name": "Ten off", "type": "PERCENTAGE", "value": 10},
            clock=clock,
        )
        address = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
        paid = paykit.place_order(
            s,
            customer_id=users[0].id,
            items=[{"price_id": price.id, "quantity": 2}],
            billing_address=address,
            payment_method_id="pm_card_visa",
            gateway=gateway,
            clock=clock,
            idempotency_key="world-paid",
        ).order
        paid = paykit.pay_order(s, order_id=paid.id, gateway=gateway, clock=clock).order
        pending = paykit.place_order(
            s,
            customer_id=users[1].id,
            items=[{"price_id": price.id}],
            billing_address=address,
            gateway=gateway,
            clock=clock,
            idempotency_key="world-pending",
        ).order
        refund = paykit.issue_refund(
            s,
            order_id=paid.id,
            amount=Decimal("1.00"),
            reason="REQUESTED_BY_CUSTOMER",
            gateway=gateway,
            actor=staff,
            clock=clock,
            idempotency_key="world-refund",
        )
        subscription = paykit.subscribe(
            s,
            user_id=users[0].id,
            price_id=recurring.id,
            gateway=gateway,
            payment_method_id="pm_card_visa",
            clock=clock,
            idempotency_key="world-sub",
        )
        ticket = paykit.open_ticket(
            s, actor=Actor.of(users[0]), subject="Help", description="It broke.", clock=clock
        )
        token = paykit.login(
            s, email="c0@example.com", password=PASSWORD, hasher=FAST, clock=clock
        ).token
        ids = {
            "user": [admin.id, users[0].id, users[1].id],
            "order": [paid.id, pending.id],
            "price": [price.id, recurring.id],
            "product": [product.id, seeded.product.id],
            "discount": [discount.id],
            "subscription": [subscription.id],
            "ticket": [ticket.id],
            "refund": [refund.id],
            "payment": [paid.stripe_payment_intent_id or ""],
            "stripe_price": [stripe_price, monthly],
        }
    return World(
        engine=engine,
        gateway=gateway,
        ids=ids,
        emails=["admin@example.com", "c0@example.com", "c1@example.com"],
        tokens=[token],
        codes=["SAVE10"],
        refunds=list(gateway.refunds),
        payments=list(gateway.payments.values()),
    )


_worlds: dict[str, World] = {}


def _world(backend: str, factories: dict[str, DatabaseFactory]) -> World:
    if backend == "postgresql":
        require_postgres()
    if backend not in _worlds:
        _worlds[backend] = _build_world(factories[backend].migrated(shared=True))
    return _worlds[backend]


def _clone(gateway: FakeGateway) -> FakeGateway:
    """A copy of the world's gateway, so no example sees another's gateway state."""
    dispatch = copy._deepcopy_dispatch  # type: ignore[attr-defined]
    for lock in (threading.Lock, threading.RLock):
        dispatch.setdefault(type(lock()), lambda _lock, _memo, new=lock: new())
    dispatch.setdefault(
        MappingProxyType, lambda proxy, memo: MappingProxyType(copy.deepcopy(dict(proxy), memo))
    )
    return copy.deepcopy(gateway)


# --------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Ref:
    """A value that needs the example's session or gateway (a loaded row, the gateway)."""

    kind: str
    key: str = ""


BIG = 10**30
BAD_SCALARS: list[Any] = [
    None,
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63) - 1,
    BIG,
    1.5,
    float("nan"),
    float("inf"),
    True,
    False,
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("1e8"),
    Decimal("99999999.995"),
    Decimal("-0.01"),
    Decimal("0.00001"),
    Decimal("123456.78901"),
    "",
    " ",
    "a\x00b",
    "\x00",
    "x" * 300,
    "y" * 5_000,
    "10",
    "-5",
    "1e8",
    "NaN",
    "not-an-id",
    str(uuid.uuid4()),
    "\ud800",
    "ADMIN",
    "usd",
    "XXX",
    b"bytes",
    [],
    {},
    [1, 2],
    {"a": 1},
    object(),
    timedelta(days=-1),
    timedelta.max,
    datetime(2000, 1, 1),
    datetime.max.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=UTC),
]
bad = st.sampled_from(BAD_SCALARS) | st.text(max_size=20) | st.integers()

money = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=1000),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("99999999.99"), Decimal("100000000.00"), Decimal("1e8"), 10**9]),
    st.sampled_from(["12.50", "1e8", "0.001", "-1"]),
)
rates = st.one_of(
    st.decimals(places=4, min_value=0, max_value=1),
    st.sampled_from([Decimal("0.08125"), Decimal("0.12345"), Decimal("10"), Decimal("1e5")]),
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, bad)


def record(**items: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of the keys with valid-or-bad values, some left out, sometimes one extra."""
    base = st.fixed_dictionaries({}, optional={k: either(v) for k, v in items.items()})
    full = st.fixed_dictionaries({k: either(v) for k, v in items.items()})
    extra = st.dictionaries(st.sampled_from(["zzz", "id", "created_at"]), bad, max_size=1)
    return st.builds(lambda a, b: {**a, **b}, st.one_of(full, full, base), extra)


def _id(world: World, kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from(world.ids[kind])


def _actor(world: World) -> st.SearchStrategy[Any]:
    roles = st.sampled_from(list(m.UserRole))
    return st.builds(Actor, _id(world, "user") | st.just(str(uuid.uuid4())), roles) | st.builds(
        lambda uid: Ref("actor", uid), _id(world, "user")
    )


ADDRESS = record(
    line1=st.just("1 Main St"),
    city=st.just("Springfield"),
    country=st.sampled_from(["US", "de"]),
    postal_code=st.just("12345"),
)


def _mapping(world: World, func: str, param: str) -> st.SearchStrategy[Any]:
    if func == "create_product":
        return record(
            name=st.just("Gadget"),
            description=st.just("A gadget of some kind."),
            base_price=money,
            type=st.sampled_from(["ONE_TIME", "DIGITAL_DOWNLOAD", "SUBSCRIPTION"]),
            slug=st.sampled_from(["gadget", "widget"]),
            tax_rate=rates,
            stock_quantity=st.integers(min_value=0, max_value=2**40),
            billing_interval=st.just("month"),
        )
    if func == "update_product":
        return record(
            name=st.just("Renamed"),
            base_price=money,
            tax_rate=rates,
            status=st.sampled_from([s.value for s in m.ProductStatus]),
            stock_quantity=st.integers(min_value=-1, max_value=2**40),
        )
    if func == "create_price":
        return record(
            stripe_price_id=st.sampled_from(["price_new", *world.ids["stripe_price"]]),
            unit_amount=money,
            currency=st.sampled_from(["USD", "JPY", "KWD"]),
            type=st.sampled_from(["ONE_TIME", "RECURRING"]),
            interval=st.just("month"),
            interval_count=st.integers(min_value=0, max_value=400),
        )
    if func == "create_discount":
        return record(
            code=st.sampled_from(["NEW10", "SAVE10"]),
            name=st.just("New"),
            type=st.sampled_from(["PERCENTAGE", "FIXED_AMOUNT"]),
            value=money,
            max_uses=st.integers(min_value=0, max_value=2**40),
            minimum_amount=money,
            valid_until=st.just(T0 + timedelta(days=30)),
        )
    if func == "update_discount":
        return record(
            name=st.just("Renamed"),
            max_uses=st.integers(min_value=0, max_value=2**40),
            valid_until=st.just(T0 + timedelta(days=30)),
            active=st.booleans(),
        )
    if func == "update_profile":
        return record(
            name=st.just("New Name"),
            phone=st.just("+1 555 0100"),
            timezone=st.just("Europe/Berlin"),
            billing_address=ADDRESS,
            tax_id=st.just("DE123"),
        )
    if func == "register_user":
        return record(
            email=st.sampled_from(["new@example.com", *world.emails]),
            password=st.just(PASSWORD),
            name=st.just("New User"),
        )
    if param in ("billing_address", "shipping_address"):
        return ADDRESS
    if param == "metadata":
        return st.dictionaries(st.text(max_size=5), st.text(max_size=5) | bad, max_size=3)
    if param in ("subscription", "invoice"):
        raw = stripe_object(param)
        raw = raw.get("object", raw) if "object" in raw and isinstance(raw["object"], dict) else raw
        keys = st.sampled_from(sorted(raw))
        return st.builds(lambda k, v: {**raw, k: v}, keys, bad) | st.just(raw)
    return st.dictionaries(st.text(max_size=5), bad, max_size=3)


def _items(world: World) -> st.SearchStrategy[Any]:
    line = record(price_id=_id(world, "price"), quantity=st.integers(min_value=-1, max_value=2**32))
    return st.lists(line, max_size=3) | bad


STR_BY_PARAM: dict[str, Callable[[World], st.SearchStrategy[Any]]] = {
    "email": lambda w: st.sampled_from(w.emails),
    "password": lambda w: st.just(PASSWORD),
    "current_password": lambda w: st.just(PASSWORD),
    "new_password": lambda w: st.just("another good password"),
    "token": lambda w: st.sampled_from(w.tokens),
    "current_token": lambda w: st.sampled_from(w.tokens),
    "except_token": lambda w: st.sampled_from(w.tokens),
    "code": lambda w: st.sampled_from(w.codes),
    "discount_code": lambda w: st.sampled_from(w.codes),
    "currency": lambda w: st.sampled_from(["USD", "eur", "JPY"]),
    "payment_method_id": lambda w: st.sampled_from(["pm_card_visa", "pm_card_chargeDeclined"]),
    "idempotency_key": lambda w: st.sampled_from(["k1", "world-paid", "world-sub"]),
    "reason": lambda w: st.sampled_from([r.value for r in m.RefundReason]),
    "url": lambda w: st.just("sqlite://"),
    "bind": lambda w: st.just("sqlite://"),
    "revision": lambda w: st.sampled_from(["head", "base", "0001"]),
}


def _str(world: World, param: str) -> st.SearchStrategy[Any]:
    if param in STR_BY_PARAM:
        return STR_BY_PARAM[param](world)
    kind = param.removesuffix("_id")
    if param.endswith("_id") and kind in world.ids:
        return _id(world, kind)
    if param in ("customer_id", "actor_id"):
        return _id(world, "user")
    return st.text(max_size=30)


def _for_name(world: World, func: str, param: str, name: str) -> st.SearchStrategy[Any] | None:
    """A valid value for one member of a parameter's annotation, or None if there is none."""
    simple: dict[str, st.SearchStrategy[Any]] = {
        "int": st.integers(min_value=0, max_value=100),
        "float": st.floats(min_value=0, max_value=1),
        "bool": st.booleans(),
        "datetime": st.datetimes(timezones=st.just(UTC)),
        # Around the sweep's clock (T0 + 1 day): past days, today and future ones.
        "date": st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 3, 9)),
        "timedelta": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
        "Decimal": money,
        "MoneyInput": money,
        "Clock": st.just(Ref("clock")),
        "PaymentGateway": st.just(Ref("gateway")),
        "RequestContext": st.builds(
            paykit.RequestContext,
            st.sampled_from(["203.0.113.9", "not an ip", "x" * 300]),
            st.sampled_from(["curl/8", "u" * 5_000]),
        ),
        "PasswordHasher": st.just(FAST),
        "Actor": _actor(world),
        "Keyring": st.builds(Keyring.generate),
        "Session": st.just(Ref("session")),
        "Connection": st.just(Ref("connection")),
        "Engine": st.nothing(),
        "URL": st.nothing(),
        "bytes": st.binary(max_size=50),
        "User": st.builds(lambda i: Ref("user", i), _id(world, "user")),
        "Order": st.builds(lambda i: Ref("order", i), _id(world, "order")),
        "GatewayRefund": st.sampled_from(world.refunds),
        "GatewayPayment": st.sampled_from(world.payments),
        "GatewaySubscription": st.nothing(),
        "Sequence": _items(world) if param == "items" else st.lists(st.text(max_size=5)),
        "Mapping": _mapping(world, func, param),
        "RegisterUserInput": st.nothing(),
        "DiscountRule": st.builds(
            paykit.DiscountRule,
            code=st.just("X"),
            type=st.sampled_from(list(m.DiscountType)),
            value=money,
        ),
        "DiscountUsageCounts": st.builds(paykit.DiscountUsageCounts),
        "LineInput": st.builds(
            paykit.LineInput,
            key=st.integers(),
            product_id=st.none(),
            unit_price=money,
            quantity=st.integers(min_value=1, max_value=5),
            currency=st.just("USD"),
        ),
        "frozenset": st.frozensets(st.text(max_size=5), max_size=2),
        "tuple": st.tuples(st.just("card")),
    }
    if name == "str":
        return _str(world, param)
    if name in simple:
        return simple[name]
    enum_cls = getattr(m, name, None)
    if inspect.isclass(enum_cls) and issubclass(enum_cls, enum.Enum):
        return st.sampled_from(list(enum_cls)) | st.sampled_from([e.value for e in enum_cls])
    return None


def _top_level_union(annotation: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in annotation:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip().split("[")[0].split(".")[-1] for p in parts]


def argument(world: World, func: str, param: inspect.Parameter) -> st.SearchStrategy[Any]:
    annotation = str(param.annotation)
    if param.name == "session" or annotation == "Session":
        return st.just(Ref("session"))
    names = _top_level_union(annotation) if param.annotation is not param.empty else ["Any"]
    valid = [s for n in names if (s := _for_name(world, func, param.name, n)) is not None]
    if func in OWN_CONNECTIONS and param.name == "bind":
        valid = [st.just("sqlite://")]
    if "None" in names:
        valid.append(st.none())
    if not valid:
        return bad
    return st.one_of(*valid, *valid, bad)


def call_arguments(world: World, func: Callable[..., Any], name: str) -> st.SearchStrategy[Any]:
    signature = inspect.signature(func)
    args: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        strategy = argument(world, name, param)
        # Always given: the default hasher's cost-12 bcrypt would take the whole run.
        if param.default is param.empty or param.name in ("session", "hasher"):
            args[param.name] = strategy
        else:
            optional[param.name] = strategy
    return st.fixed_dictionaries(args, optional=optional)


# --------------------------------------------------------------------- running


_PG_CHANGES = (
    "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(t) + "
    "pg_stat_get_xact_tuples_updated(t) + pg_stat_get_xact_tuples_deleted(t)), 0) "
    "FROM unnest(CAST(%s AS oid[])) AS t"
)
_pg_tables: dict[str, list[int]] = {}


def _changes(conn: Connection, before: int | None = None) -> int:
    """A counter of rows written, less the audit rows (compare two readings).

    A refusal may leave its audit record (a failed login, a denied action)
    and a failed login its throttle counter (paykit_login_attempts, counted
    before the password check by design): those are the writes a refused call
    is allowed. On PostgreSQL the counters may include earlier transactions
    not yet reported to the statistics collector, so only a difference between
    two readings counts.
    """
    if conn.dialect.name == "sqlite":
        audit = int(conn.exec_driver_sql("SELECT count(*) FROM audit_logs").scalar_one())
        # Each throttle write is one upsert that adds one attempt (or starts a window at 1).
        attempts = int(
            conn.exec_driver_sql(
                "SELECT coalesce(sum(attempts), 0) FROM paykit_login_attempts"
            ).scalar_one()
        )
        return int(conn.exec_driver_sql("SELECT total_changes()").scalar_one()) - audit - attempts
    # No transaction id yet: nothing was written since the first reading.
    if (
        before is not None
        and conn.exec_driver_sql("SELECT txid_current_if_assigned()").scalar() is None
    ):
        return before
    if "oids" not in _pg_tables:
        # paykit's schema: the connection's own, or (PAYKIT_TEST_SCHEMA=1) use_schema's.
        schema = (
            conn.get_execution_options().get("paykit_schema")
            or conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        )
        _pg_tables["oids"] = list(
            conn.exec_driver_sql(
                "SELECT oid FROM pg_class WHERE relnamespace = to_regnamespace(%s) "
                "AND relkind = 'r' AND relname NOT IN ('audit_logs', 'paykit_login_attempts')",
                (schema,),
            ).scalars()
        )
        assert _pg_tables["oids"], f"no paykit table in schema {schema!r}"
    return int(conn.exec_driver_sql(_PG_CHANGES, (_pg_tables["oids"],)).scalar_one())


def _resolve(value: Any, session: Session, conn: Connection, world: World) -> Any:
    if not isinstance(value, Ref):
        return value
    if value.kind == "session":
        return session
    if value.kind == "connection":
        return conn
    if value.kind == "gateway":
        return _clone(world.gateway)
    if value.kind == "clock":
        return FrozenClock(T0 + timedelta(days=1))
    if value.kind == "actor":
        user = session.get(m.User, value.key)
        return Actor.of(user) if user is not None else Actor(value.key, m.UserRole.CUSTOMER)
    model = {"user": m.User, "order": m.Order}[value.kind]
    return session.get(model, value.key)


def _positional(func: Callable[..., Any]) -> set[str]:
    return {
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind is p.POSITIONAL_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name == "bind")
    }


def check_call(world: World, name: str, kwargs: dict[str, Any]) -> None:
    func = SURFACE[name]
    with world.engine.connect() as conn:
        outer = conn.begin()
        try:
            session = Session(bind=conn, join_transaction_mode="create_savepoint")
            resolved = {k: _resolve(v, session, conn, world) for k, v in kwargs.items()}
            positional = [resolved.pop(p) for p in _positional(func) if p in resolved]
            session.flush()
            before = _changes(conn)
            refusal: errors.PaykitError | None = None
            try:
                with use_keyring(None):
                    func(*positional, **resolved)
                    session.flush()
            except errors.PaykitError as exc:
                refusal = exc
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else ""
                pytest.fail(f"{name}({_show(kwargs)}) raised {type(exc).__name__}: {first}")
            if refusal is not None:
                code = refusal.code
                assert errors.is_registered(code), f"{name}: unregistered code {code!r}"
                pending = (session.new, session.dirty, session.deleted)
                assert not any(pending), f"{name} refused ({code}) but left {pending}"
                after = _changes(conn, before)
                assert after == before, f"{name} refused ({code}) after changing rows"
            session.close()
        finally:
            outer.rollback()


def _show(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r:.80}" for k, v in kwargs.items())


@pytest.fixture(autouse=True)
def _keep_encryption() -> Iterator[None]:
    """configure_encryption is process-wide: put back what was there."""
    from paykit import _encryption as encryption

    saved = encryption._process_keyring
    yield
    encryption._process_keyring = saved


def _uses_a_database(func: Callable[..., Any]) -> bool:
    """Whether a callable reads or writes the host's database (a session or connection)."""
    return any(
        {"Session", "Connection"} & _names_in(p.annotation)
        for p in inspect.signature(func).parameters.values()
    )


# Callables that touch the database run on both backends; the rest (money,
# pricing, constructors, the migrator on its own in-memory databases) once.
CASES = [
    pytest.param(backend, name, id=f"{backend}-{name}")
    for name in sorted(SURFACE)
    for backend in (("sqlite", "postgresql") if _uses_a_database(SURFACE[name]) else ("sqlite",))
]


@pytest.mark.parametrize(("backend", "name"), CASES)
def test_bad_input_is_refused_cleanly(
    backend: str, name: str, request: pytest.FixtureRequest
) -> None:
    world = _world(backend, request.getfixturevalue("_factories"))

    @settings(suppress_health_check=list(HealthCheck), database=None)
    @given(kwargs=call_arguments(world, SURFACE[name], name))
    def run(kwargs: dict[str, Any]) -> None:
        check_call(world, name, kwargs)

    run()
