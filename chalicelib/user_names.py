"""What an app user's name is, wherever one comes in: ALLOWED_USERS, a login's user, a
`from_user`, a callee named in `to`."""

from __future__ import annotations

import re

# ASCII letters, digits and . _ - @ + | : (e-mail addresses, uuids, an issuer's `sub` such as
# auth0|123), 1-100 of them. Nothing that looks like another name (a zero-width space, an RTL
# override, a homoglyph) nor that reads as a query (& = ? # % /).
_USER_NAME = re.compile(r"[A-Za-z0-9._@+|:-]{1,100}")
USER_NAME_CHARACTERS = "A-Z a-z 0-9 . _ - @ + | :"


def valid_user_name(name: object) -> bool:
    """An app user's name as callgate accepts one."""
    return isinstance(name, str) and _USER_NAME.fullmatch(name) is not None
