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

from paykit.services.users import (
    accounts,
    admin,
    authentication,
    deletion,
    passwords,
    sessions,
    verification,
)
from paykit.services.users._common import (
    DEFAULT_SESSION_TTL,
    EMAIL_VERIFICATION_TTL,
    PASSWORD_RESET_TTL,
    PERSONAL_FIELDS,
)
from paykit.services.users._common import (
    SESSION_TOKEN_PREFIX as SESSION_TOKEN_PREFIX,  # importable here, as before
)
from paykit.services.users.accounts import *  # noqa: F403
from paykit.services.users.admin import *  # noqa: F403
from paykit.services.users.authentication import *  # noqa: F403
from paykit.services.users.deletion import *  # noqa: F403
from paykit.services.users.passwords import *  # noqa: F403
from paykit.services.users.sessions import *  # noqa: F403
from paykit.services.users.verification import *  # noqa: F403

__all__ = ["DEFAULT_SESSION_TTL", "EMAIL_VERIFICATION_TTL", "PASSWORD_RESET_TTL", "PERSONAL_FIELDS"]
__all__ += accounts.__all__
__all__ += admin.__all__
__all__ += authentication.__all__
__all__ += deletion.__all__
__all__ += passwords.__all__
__all__ += sessions.__all__
__all__ += verification.__all__
