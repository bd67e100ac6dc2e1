"""Who may use the dashboard: the login session cookie and the CSRF token of its forms.

With ``api_token`` set, the dashboard asks for the token once, on a login form, and
answers with an HttpOnly session cookie: ``<issued>.<nonce>.<mac>``, the mac an HMAC of
the first two under the token. Any worker of the group checks it without shared state
(they share the token), a cookie stops working when the token changes, and it expires
after :data:`SESSION_SECONDS`.

Every form that changes something carries a CSRF token: the value of a ``dagger_csrf``
cookie, which the page repeats in a hidden field or the ``X-CSRF-Token`` header (the
double-submit pattern). Another site can make a browser send the cookie but cannot read
it to write the field; the cookies are SameSite=Strict besides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SESSION_COOKIE = "dagger_session"
CSRF_COOKIE = "dagger_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
"""How long a login lasts."""


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None) -> str:
    """A session cookie value for a login with ``token``."""
    issued = int(time.time() if now is None else now)
    message = f"{issued}.{secrets.token_urlsafe(16)}"
    return f"{message}.{_mac(token, 'session:' + message)}"


def session_valid(token: str, cookie: str | None, now: float | None = None) -> bool:
    """True when ``cookie`` is a session this token issued and it has not expired."""
    if not cookie or cookie.count(".") != 2:
        return False
    message, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(mac, _mac(token, "session:" + message)):
        return False
    try:
        issued = int(message.split(".", 1)[0])
    except ValueError:
        return False
    current = time.time() if now is None else now
    return issued <= current + 60 and current - issued < SESSION_SECONDS


def token_matches(token: str, given: str) -> bool:
    """True when the login form's ``given`` token is the configured one."""
    return hmac.compare_digest(given.strip().encode(), token.encode())


def new_csrf() -> str:
    """A fresh CSRF cookie value."""
    return secrets.token_urlsafe(24)


def csrf_valid(cookie: str | None, sent: str | None) -> bool:
    """True when the form or header repeats the CSRF cookie."""
    return bool(cookie) and bool(sent) and hmac.compare_digest(str(cookie), str(sent))
