"""Input of the user services: registration (seed section 5.1), login, profile, passwords."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

import pydantic
from pydantic import AfterValidator, Field, StringConstraints

from paykit.errors import ValidationError
from paykit.models.users import EMAIL_REGEX
from paykit.schemas.base import StrictModel
from paykit.schemas.orders import Address
from paykit.security.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_password_policy,
)

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ChangePasswordInput",
    "LoginInput",
    "ProfileUpdate",
    "RegisterUserInput",
    "normalize_email",
]

_EMAIL = re.compile(EMAIL_REGEX)
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,31}$")


def normalize_email(value: str) -> str:
    """Strip and lower-case ``value`` and check it against the database's own rule.

    The rule is the seed's CHECK regex (section 5.2), applied to the whole
    string, so every address accepted here is one the database accepts.
    """
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email) or ".." in email:
        raise ValueError("Invalid email address")
    return email


def _password_policy(value: str) -> str:
    # The rule lives in paykit.security.passwords; pydantic wants a ValueError.
    try:
        return check_password_policy(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from None


def _plain_text(value: str) -> str:
    # Control characters (NUL above all, which PostgreSQL refuses in TEXT) have
    # no place in a name or a phone number.
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cn", "Co") for ch in value):
        raise ValueError("text must not contain control characters")
    return value


Email = Annotated[str, Field(max_length=320), AfterValidator(normalize_email)]
# Passwords are taken exactly as typed: never stripped or normalised.
Password = Annotated[
    str, StringConstraints(strip_whitespace=False), AfterValidator(_password_policy)
]
Name = Annotated[str, Field(min_length=2, max_length=200), AfterValidator(_plain_text)]
ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain_text)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(_plain_text)]


def _phone(value: str | None) -> str | None:
    if value is not None and not _PHONE.fullmatch(value):
        raise ValueError("Invalid phone number")
    return value


class RegisterUserInput(StrictModel):
    """Seed section 5.1's ``userRegistrationSchema``, field for field (in snake_case)."""

    email: Email
    password: Password
    name: Name
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    phone: Annotated[Phone | None, AfterValidator(_phone)] = None


class LoginInput(StrictModel):
    """Credentials for :func:`paykit.services.users.login` (shape only; no length rules)."""

    email: Email
    password: Annotated[
        str, StringConstraints(strip_whitespace=False, max_length=MAX_PASSWORD_LENGTH)
    ]


class ChangePasswordInput(StrictModel):
    """A new password, checked against the registration rules."""

    new_password: Password


_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class ProfileUpdate(StrictModel):
    """The fields a profile update may change; a field left out is left alone.

    Set a field to ``None`` to clear it. The email is not here: changing the
    login address needs a re-verification flow paykit does not ship yet.
    """

    name: Name | None = None
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    avatar: Annotated[str, Field(max_length=2048), AfterValidator(_plain_text)] | None = None
    phone: Annotated[Phone | None, AfterValidator(_phone)] = None
    date_of_birth: datetime | None = None
    timezone: Annotated[str, Field(pattern=_TIMEZONE.pattern)] | None = None
    language: Annotated[str, Field(pattern=_LANGUAGE.pattern)] | None = None
    billing_address: Address | None = None
    tax_id: (
        Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_plain_text)] | None
    ) = None

    @pydantic.field_validator("date_of_birth")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("date_of_birth must be timezone-aware")
        return value
