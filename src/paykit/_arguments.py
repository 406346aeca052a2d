"""One argument check for every public function: wrong types become ``ValidationError``.

:func:`checked` reads a function's annotations once (on its first call) and
checks each argument against them before the body runs: a ``None`` where a
string is expected, an integer idempotency key, a string limit, a NUL byte
(PostgreSQL refuses it in text) or a lone surrogate (no encoding can store it)
is refused with ``invalid_argument`` and the parameter's name, instead of
surfacing as ``TypeError``, ``AttributeError`` or a driver error half-way
through. Integers are bounded by the parameter's rule in :data:`INT_RANGES`
(or by a signed 64-bit column); durations by :data:`DURATION_RANGES`.

A function whose first parameter is a session also has the database errors
that reach its boundary mapped to paykit's (:func:`database_error`), so a host
never has to catch SQLAlchemy's exceptions to tell bad input from an outage.
Values the annotations cannot describe (amounts, the shape of a mapping) stay
with the function's own validation.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    ParamSpec,
    TypeVar,
    get_args,
    get_origin,
    overload,
)

from paykit.errors import (
    ConfigurationError,
    Conflict,
    InvalidAmount,
    PaykitError,
    ValidationError,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["DURATION_RANGES", "INT_RANGES", "check_fields", "checked", "database_error"]

P = ParamSpec("P")
R = TypeVar("R")

_INT64: Final = (-(2**63), 2**63 - 1)
#: Inclusive bounds of integer parameters, by name; other integers fit a BIGINT.
INT_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "limit": (0, 10_000),
    "offset": (0, 2**31 - 1),
    "batch_size": (1, 100_000),
    "quantity": (1, 10_000),
    "trial_days": (0, 730),
    "tolerance": (0, 2**31 - 1),
    "rounds": (4, 31),
    "max_network_retries": (0, 10),
}
#: Inclusive bounds of durations, by name; other durations are 0 to 10 years.
DURATION_RANGES: Final[Mapping[str, tuple[timedelta, timedelta]]] = {
    "ttl": (timedelta(seconds=1), timedelta(days=366)),
    "session_ttl": (timedelta(seconds=1), timedelta(days=366)),
}
_DEFAULT_DURATION: Final = (timedelta(0), timedelta(days=3653))
# Parameters whose wrong value has a more precise error than invalid_argument.
_ERROR_BY_PARAM: Final[Mapping[str, type[PaykitError]]] = {
    "minor_units": InvalidAmount,
    "amount_minor": InvalidAmount,
    "keyring": ConfigurationError,
}

Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(name: str) -> Check:
    low, high = INT_RANGES.get(name, _INT64)
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _is_duration(name: str) -> Check:
    low, high = DURATION_RANGES.get(name, _DEFAULT_DURATION)
    return lambda v: isinstance(v, timedelta) and low <= v <= high


def _is_float(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    )


def _instance_of(cls: type) -> Check:
    if getattr(cls, "_is_protocol", False):
        # isinstance() against a runtime Protocol walks every member: remember
        # the classes that passed, so the hot path pays once per class.
        passed: set[type] = set()

        def protocol(value: Any) -> bool:
            kind = type(value)
            if kind in passed:
                return True
            if isinstance(value, type | datetime):
                # A class or a datetime has a `now` too, but is no clock: datetime.now()
                # would hand out the machine's naive local time.
                return False
            if isinstance(value, cls):
                passed.add(kind)
                return True
            return False

        return protocol
    if issubclass(cls, Enum):
        values = {member.value for member in cls}
        return lambda v: isinstance(v, cls) or (isinstance(v, str) and v in values)
    return lambda v: isinstance(v, cls)


_NAMED: Final[dict[str, Check]] = {
    "str": _is_str,
    "float": _is_float,
    "bool": lambda v: isinstance(v, bool),
    "bytes": lambda v: isinstance(v, bytes | bytearray),
    "datetime": lambda v: isinstance(v, datetime) and v.utcoffset() is not None,
    "Mapping": lambda v: isinstance(v, Mapping),
    "Sequence": lambda v: isinstance(v, Sequence) and not isinstance(v, str | bytes),
    "frozenset": lambda v: isinstance(v, frozenset),
    "tuple": lambda v: isinstance(v, tuple),
    "None": lambda v: v is None,
}
_ANY: Final = frozenset({"Any", "object", "MoneyInput", "Decimal", "Hashable"})


def _members(annotation: str) -> list[str]:
    """The top-level members of a union, each without its subscript or module path."""
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
    return [p.strip().split("[")[0].rsplit(".", 1)[-1] for p in parts]


def _resolve(space: Mapping[str, Any], name: str) -> type | None:
    """The class ``name`` means in a function's module, or one of SQLAlchemy's.

    Only the function's own namespace is searched: this module sits below every
    other paykit module and imports none of them (the layer rule of
    docs/architecture.md), so a paykit type an annotation names must be imported
    at run time by the module that uses it. ``test_layers`` checks that every
    public function's annotations resolve.
    """
    found = space.get(name)
    if inspect.isclass(found):
        return found
    if name in ("Engine", "Connection", "URL", "Session"):
        # Imported here: money and pricing use checked() and import nothing from the database.
        import sqlalchemy as sa
        import sqlalchemy.orm

        if name == "Session":
            return sqlalchemy.orm.Session
        return sa.engine.URL if name == "URL" else getattr(sa, name)
    return None  # a third-party type (stripe.HTTPClient): its own library checks it


def _check_for(space: Mapping[str, Any], param: str, annotation: Any) -> Check | None:
    if annotation is inspect.Parameter.empty:
        return None
    checks: list[Check] = []
    for name in _members(str(annotation)):
        if name in _ANY:
            return None
        if name == "int":
            checks.append(_is_int(param))
        elif name == "timedelta":
            checks.append(_is_duration(param))
        elif name in _NAMED:
            checks.append(_NAMED[name])
        elif name == "Actor":
            checks.append(_is_actor(_resolve(space, name)))
        else:
            cls = _resolve(space, name)
            if cls is not None:
                checks.append(_instance_of(cls))
            elif get_origin(space.get(name)) is Literal:
                # A Literal alias (pricing.DiscountType): one of its strings, or
                # a StrEnum member equal to one (models.DiscountType).
                checks.append(_one_of(frozenset(get_args(space[name]))))
            else:
                return None
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(check(v) for check in checks)


def _one_of(allowed: frozenset[Any]) -> Check:
    return lambda v: isinstance(v, str) and v in allowed


def _is_actor(actor_class: type | None) -> Check:
    # An actor's user id is text like any other string argument.
    if actor_class is None:
        return lambda v: False
    return lambda v: isinstance(v, actor_class) and _is_str(getattr(v, "user_id", None))


def _describe(value: Any) -> str:
    if isinstance(value, datetime) and value.utcoffset() is None:
        return "a naive datetime"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{type(value).__name__} {value!r:.40}"
    return type(value).__name__


def database_error(exc: sa.exc.SQLAlchemyError, where: str) -> PaykitError | None:
    """The paykit error for a database error caused by the input, or None for an outage.

    A constraint that refuses a row is a ``Conflict`` (``integrity_error``); a
    value the column cannot hold (too long, too large, NUL) or a parameter the
    driver cannot send is a ``ValidationError`` (``invalid_value``).
    """
    import sqlalchemy as sa

    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = {"reason": reason[0][:200] if reason else type(exc).__name__}
    if isinstance(exc, sa.exc.IntegrityError):
        return Conflict(
            f"{where}: refused by a database constraint", code="integrity_error", details=detail
        )
    if isinstance(exc, sa.exc.DataError) or (
        isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)
    ):
        return ValidationError(
            f"{where}: a value does not fit its column", code="invalid_value", details=detail
        )
    return None


def _refused(where: str, name: str, annotation: Any, value: Any) -> PaykitError:
    if isinstance(value, str) and "str" in _members(str(annotation)):
        message = f"{where}: {name} must be text without NUL bytes or lone surrogates"
    elif isinstance(value, int) and not isinstance(value, bool) and name in INT_RANGES:
        low, high = INT_RANGES[name]
        message = f"{where}: {name} must be an integer between {low} and {high}, not {value}"
    else:
        message = f"{where}: {name} must be {annotation}, not {_describe(value)}"
    details = {"param": name, "field": name}
    special = _ERROR_BY_PARAM.get(name)
    if special is not None:
        return special(message, details=details)
    return ValidationError(message, code="invalid_argument", details=details)


_field_checks: dict[type, list[tuple[str, str, Check]]] = {}


def check_fields(obj: Any) -> None:
    """Check a dataclass instance's fields against their annotations (from ``__post_init__``)."""
    cls = type(obj)
    checks = _field_checks.get(cls)
    if checks is None:
        space = vars(sys.modules[cls.__module__])
        checks = [
            (f.name, str(f.type), c)
            for f in dataclasses.fields(obj)
            if (c := _check_for(space, f.name, f.type)) is not None
        ]
        _field_checks[cls] = checks
    for name, annotation, check in checks:
        value = getattr(obj, name)
        if not check(value):
            raise _refused(cls.__qualname__, name, annotation, value)


@overload
def checked(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def checked(*, any_text: frozenset[str] = ...) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def checked(
    func: Callable[P, R] | None = None, /, *, any_text: frozenset[str] = frozenset()
) -> Any:
    """Check ``func``'s arguments against its annotations on every call (see the module).

    ``any_text`` names string parameters whose content is the function's own
    business (a login's email and password: malformed text there is a failed
    login, not a validation error that would tell an attacker more).
    """
    if func is None:
        return functools.partial(_checked, any_text=any_text)
    return _checked(func, any_text=any_text)


def _checked(func: Callable[P, R], *, any_text: frozenset[str]) -> Callable[P, R]:
    signature = inspect.signature(func)
    takes_session = next(iter(signature.parameters), None) == "session"
    checks: dict[str, Check] | None = None
    where = func.__qualname__.removesuffix(".__init__")
    # The annotations are resolved where the function was written, not where a
    # decorator between it and checked() was (users._as_system).
    space = inspect.unwrap(func).__globals__
    params = list(signature.parameters.values())
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = frozenset(
        p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    required = frozenset(
        p.name
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        nonlocal checks
        if checks is None:
            checks = {
                p.name: c
                for p in signature.parameters.values()
                if (c := _check_for(space, p.name, p.annotation)) is not None
            }
            for name in any_text:
                checks[name] = lambda v: isinstance(v, str)
        # Signature.bind costs more than every check together: pair the
        # arguments by hand, and let bind() word the error of a bad call.
        arguments = dict(zip(positional, args, strict=False))
        arguments.update(kwargs)
        if (
            len(args) > len(positional)
            or not required <= arguments.keys()
            or (not keywords.issuperset(kwargs))
        ):
            try:
                arguments = dict(signature.bind(*args, **kwargs).arguments)
            except TypeError as exc:
                raise ValidationError(f"{where}: {exc}", code="invalid_argument") from None
        for name, value in arguments.items():
            check = checks.get(name)
            if check is not None and not check(value):
                raise _refused(where, name, signature.parameters[name].annotation, value)
        if not takes_session:
            return func(*args, **kwargs)
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return func(*args, **kwargs)
        except SQLAlchemyError as exc:
            mapped = database_error(exc, func.__name__)
            if mapped is None:
                raise
            raise mapped from exc

    return wrapper
