"""Typed system configuration over the seed's ``system_config`` key/value table.

A :class:`ConfigRegistry` names every key a host may read or set, with a
pydantic type, a default and a description. Values are stored as JSON text
(the seed's ``value String``); reading an unset key gives its default, reading
a stored value validates it again (a hand-edited row that no longer fits its
type is ``stored_config_invalid``, never a silently wrong setting). Setting is
for ADMIN (``config.manage``) and writes an audit row with the old and new
values. Unknown keys are ``unknown_config_key``.

:data:`DEFAULT_CONFIG` holds paykit's own keys; a host adds its own with
:meth:`ConfigRegistry.with_keys` and passes its registry as ``registry=``.
There is no global mutable registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import check_fields, checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ConfigurationError, NotFound, ValidationError
from paykit.models import SystemConfig
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import Audit

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigKey",
    "ConfigRegistry",
    "get_config",
    "get_config_values",
    "set_config",
]

_MAX_VALUE_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One setting: its name, pydantic-checkable type, default and what it is for."""

    name: str
    type: Any
    default: Any
    description: str

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.name or len(self.name) > 200:
            raise ConfigurationError("a config key's name is 1-200 characters")
        if isinstance(self.type, str):
            raise ConfigurationError(f"config key {self.name!r}: give a type, not a string")
        try:
            pydantic.TypeAdapter(self.type)
        except Exception as exc:  # anything pydantic cannot build a validator for
            raise ConfigurationError(
                f"config key {self.name!r}: {self.type!r} is not a type pydantic can check"
            ) from exc

    def adapter(self) -> pydantic.TypeAdapter[Any]:
        """The pydantic adapter that validates and serializes this key's values."""
        return pydantic.TypeAdapter(self.type)


@dataclass(frozen=True, slots=True)
class ConfigRegistry:
    """The keys a host may read and set; immutable, extended by copying."""

    keys: Mapping[str, ConfigKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fields(self)
        for name, key in self.keys.items():
            if not isinstance(key, ConfigKey):
                raise ConfigurationError(f"config key {name!r} is not a ConfigKey")
            if name != key.name or not name or len(name) > 200:
                raise ConfigurationError(f"config key {name!r} is misnamed")
            try:  # a default must fit its own type
                key.adapter().validate_python(key.default)
            except pydantic.ValidationError:
                raise ConfigurationError(
                    f"the default of config key {name!r} does not fit its type"
                ) from None
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def with_keys(self, *keys: ConfigKey) -> ConfigRegistry:
        """A new registry with ``keys`` added (a name already present is replaced)."""
        return ConfigRegistry({**self.keys, **{k.name: k for k in keys}})

    def key(self, name: str) -> ConfigKey:
        """The key called ``name``, or ``NotFound`` with code ``unknown_config_key``."""
        try:
            return self.keys[name]
        except KeyError:
            raise NotFound(
                f"unknown configuration key {name!r}",
                code="unknown_config_key",
                details={"key": name},
            ) from None


#: paykit's own settings (hosts add theirs with ``DEFAULT_CONFIG.with_keys(...)``).
DEFAULT_CONFIG = ConfigRegistry(
    {
        k.name: k
        for k in (
            ConfigKey(
                "orders.hold_minutes",
                pydantic.conint(ge=1, le=7 * 24 * 60),
                30,
                "How long an unpaid order holds its stock (release_expired_orders).",
            ),
            ConfigKey(
                "downloads.link_ttl_hours",
                pydantic.conint(ge=1, le=24 * 366),
                24,
                "How long a download link works.",
            ),
            ConfigKey(
                "reviews.verified_only",
                bool,
                False,
                "Whether a storefront shows only reviews of verified purchases.",
            ),
            ConfigKey(
                "store.name",
                pydantic.constr(min_length=1, max_length=200),
                "paykit store",
                "The shop's name, as e-mails and invoices show it.",
            ),
            ConfigKey(
                "billing.retry_schedule_days",
                pydantic.conlist(pydantic.conint(ge=1, le=60), min_length=1, max_length=10),
                [3, 5, 7],
                "Days between a failed renewal and each retry (docs/subscriptions.md, dunning).",
            ),
            ConfigKey(
                "billing.grace_period_days",
                pydantic.conint(ge=0, le=90),
                14,
                "Days a PAST_DUE subscription keeps access before enforce_grace_period ends it.",
            ),
            ConfigKey(
                "billing.grace_period_outcome",
                Literal["cancel", "unpaid"],
                "cancel",
                "What enforce_grace_period does at the end of the grace period: cancel or UNPAID.",
            ),
            ConfigKey(
                "billing.trial_end_behavior",
                Literal["cancel", "pause", "create_invoice"],
                "cancel",
                "What a trial without a payment method does when it ends (end_trials).",
            ),
            ConfigKey(
                "billing.trial_notice_days",
                pydantic.conint(ge=0, le=30),
                3,
                "How many days before a trial ends trial_ending_notices reports it.",
            ),
        )
    }
)


def _decode(key: ConfigKey, raw: str) -> Any:
    try:
        return key.adapter().validate_json(raw)
    except pydantic.ValidationError:
        raise ConfigurationError(
            f"the stored value of {key.name!r} does not fit its type",
            code="stored_config_invalid",
            details={"key": key.name},
        ) from None


@checked
def get_config(session: Session, key: str, *, registry: ConfigRegistry = DEFAULT_CONFIG) -> Any:
    """The value of ``key``: the stored one, validated, or the key's default when unset."""
    spec = registry.key(key)
    raw = session.scalar(sa.select(SystemConfig.value).where(SystemConfig.key == key))
    return spec.default if raw is None else _decode(spec, raw)


@checked
def get_config_values(
    session: Session, *, registry: ConfigRegistry = DEFAULT_CONFIG
) -> dict[str, Any]:
    """Every key of ``registry`` with its value (defaults for unset keys), by name."""
    stored = dict(
        session.execute(
            sa.select(SystemConfig.key, SystemConfig.value).where(
                SystemConfig.key.in_(list(registry.keys))
            )
        ).all()
    )
    return {
        name: spec.default if name not in stored else _decode(spec, stored[name])
        for name, spec in registry.keys.items()
    }


@checked
def set_config(
    session: Session,
    *,
    actor: Actor,
    key: str,
    value: Any,
    registry: ConfigRegistry = DEFAULT_CONFIG,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Any:
    """Set ``key`` to ``value`` (validated by the key's type); ADMIN only; audited.

    Returns the value as stored (after pydantic's validation). A value that
    does not fit is ``ValidationError`` with code ``invalid_config_value``.
    """
    now = resolve_clock(clock).now()
    spec = registry.key(key)
    authorize(session, actor, Action.MANAGE_CONFIG)
    adapter = spec.adapter()
    try:
        checked_value = adapter.validate_python(value, strict=True)
        text = adapter.dump_json(checked_value).decode()
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"{value!r} is not a valid value for {key!r}",
            code="invalid_config_value",
            details={"key": key, "errors": json.loads(exc.json(include_url=False))},
        ) from None
    if len(text) > _MAX_VALUE_CHARS or "\\u0000" in text:
        raise ValidationError(
            f"the value of {key!r} is too long", code="invalid_config_value", details={"key": key}
        )
    row = session.scalar(sa.select(SystemConfig).where(SystemConfig.key == key).with_for_update())
    old = None if row is None else row.value
    if row is None:
        row = SystemConfig(key=key, value=text, created_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except sa.exc.IntegrityError:  # set by a parallel call: update theirs
            row = session.scalars(
                sa.select(SystemConfig).where(SystemConfig.key == key).with_for_update()
            ).one()
            old = row.value
    if row.value != text or old is None:
        row.value = text
        row.updated_at = now
        Audit(session, now, actor.user_id, context).record(
            "config.changed",
            "system_config",
            row.id,
            old={"key": key, "value": old},
            new={"key": key, "value": text},
        )
    return checked_value
