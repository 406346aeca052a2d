"""Field encryption for personal data at rest: the keyring and AES-GCM values.

The implementation lives in :mod:`paykit._encryption`, below the models (the
encrypted column types need it, and models import nothing from ``security``);
this module is its public home.
"""

from paykit import _encryption
from paykit._encryption import *  # noqa: F403  (this module is their public home)

__all__: list[str] = []
__all__ += _encryption.__all__
