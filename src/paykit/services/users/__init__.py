"""Users: registration, login sessions, email verification, passwords, profiles, admin.

Every function takes the session first and flushes, never commits. Time comes
from ``clock``; the request's IP address and user agent from ``context``
(recorded on the session row and in the audit log). Password hashing uses
``hasher`` (a :class:`~paykit.security.PasswordHasher`, bcrypt cost 12 unless
a test asks for less).

Failed logins are audited and counted: :func:`login` flushes a
``user.login_failed`` audit row and its throttling count
(:mod:`paykit.services.throttle`) before it raises ``AuthenticationError`` or
``TooManyAttempts``. Those are the failed call's only writes, and a host
commits after catching the error, or throttling does not see the attempt
(docs/security.md).

The modules, by concern: :mod:`.accounts` (registration, profile),
:mod:`.authentication` (login), :mod:`.sessions`, :mod:`.passwords` (change, reset),
:mod:`.verification` (email), :mod:`.deletion`, :mod:`.admin` (list, role,
status), and the shared :mod:`.tokens` and :mod:`._common`. Every name is
importable from ``paykit.services.users`` as before.
"""

from paykit.services.users._common import (
    DEFAULT_SESSION_TTL,
    EMAIL_VERIFICATION_TTL,
    PASSWORD_RESET_TTL,
    PERSONAL_FIELDS,
)
from paykit.services.users._common import (
    SESSION_TOKEN_PREFIX as SESSION_TOKEN_PREFIX,  # importable here, as before
)
from paykit.services.users.accounts import register_user, update_profile
from paykit.services.users.admin import UserSummary, list_users, set_user_role, set_user_status
from paykit.services.users.authentication import LoginResult, login
from paykit.services.users.deletion import delete_user
from paykit.services.users.passwords import change_password, request_password_reset, reset_password
from paykit.services.users.sessions import (
    purge_expired_sessions,
    revoke_all_sessions,
    revoke_session,
    validate_session,
)
from paykit.services.users.verification import request_email_verification, verify_email

__all__ = [
    "DEFAULT_SESSION_TTL",
    "EMAIL_VERIFICATION_TTL",
    "PASSWORD_RESET_TTL",
    "PERSONAL_FIELDS",
    "LoginResult",
    "UserSummary",
    "change_password",
    "delete_user",
    "list_users",
    "login",
    "purge_expired_sessions",
    "register_user",
    "request_email_verification",
    "request_password_reset",
    "reset_password",
    "revoke_all_sessions",
    "revoke_session",
    "set_user_role",
    "set_user_status",
    "update_profile",
    "validate_session",
    "verify_email",
]
