"""Server URLs: check them before any connection, and never show a password.

Like a bouncer reading an address off a card: the scheme, host, port and database are checked on paper, so a typo
costs a one-line message (exit 2) instead of a connection attempt. Passwords are replaced by ``***`` wherever a URL
is shown: in messages, logs, ``config.json``, reprs and tracebacks (:func:`redact` scrubs free text).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from .errors import UsageError

URL_SCHEMES = ("redis", "rediss", "unix")
MASK = "***"

#: Query parameters redis-py understands in a URL that simlib lets through (timeouts and retries are simlib's own).
QUERY_PARAMETERS = frozenset({"db", "password", "username", "protocol", "client_name"})
TLS_QUERY_PREFIX = "ssl_"
_SECRET_QUERY = ("password",)

# a URL inside free text; and, for text urlsplit cannot parse, ``scheme://user:secret@`` and ``password=secret``
_URL_IN_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<secret>[^\s/]+)(?=@)")
_QUERY_SECRET = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&\s#]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the password of every URL in it (user info or ``?password=``) replaced by ``***``."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m[0]), text)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for messages, logs and config.json."""
    if not isinstance(url, str):
        return f"<not a URL: {type(url).__name__}>"
    if "://" not in url:
        return _mask_roughly(url)
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return _mask_roughly(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rpartition('@')[2]}"
    shown = parts.query
    if any(name.lower() in _SECRET_QUERY for name, _ in query):
        shown = urlencode([(name, MASK if name.lower() in _SECRET_QUERY else value) for name, value in query], safe="*")
    # joined by hand: urlunsplit would turn unix:///path into unix:/path
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{shown}" if shown else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


def _mask_roughly(text: str) -> str:
    text = _USERINFO.sub(lambda m: m["head"] + MASK, text)
    return _QUERY_SECRET.sub(lambda m: m["head"] + MASK, text)


def check_url(url: object, *, flag: str = "--redis-url") -> None:
    """Raise :class:`UsageError` (naming ``flag``) unless ``url`` is a well-formed redis://, rediss:// or unix:// URL."""
    if not isinstance(url, str) or not url:
        raise UsageError(f"{flag} must be a URL such as redis://host:6379/0 (got {url!r})")
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise UsageError(f"{flag} {shown} cannot be parsed ({exc}); expected redis://[:password@]host:port/db") from None
    if parts.scheme not in URL_SCHEMES:
        raise UsageError(
            f"{flag} {shown} has scheme '{parts.scheme or '(none)'}': use "
            f"{', '.join(s + '://' for s in URL_SCHEMES)}"
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise UsageError(f"{flag} {shown} names no socket: use unix:///path/to/redis.sock?db=0")
    else:
        if not parts.hostname:
            raise UsageError(f"{flag} {shown} names no host: use {parts.scheme}://host:6379/0")
        if port == 0:
            raise UsageError(f"{flag} {shown}: port must be from 1 to 65535")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise UsageError(f"{flag} {shown}: the path must be a database number such as /0 (got /{db})")
    _check_query(flag, shown, parts.scheme, query)


def _check_query(flag: str, shown: str, scheme: str, query: list[tuple[str, str]]) -> None:
    for name, value in query:
        allowed = name in QUERY_PARAMETERS or (scheme == "rediss" and name.startswith(TLS_QUERY_PREFIX))
        if not allowed:
            known = ", ".join(sorted(QUERY_PARAMETERS)) + (", ssl_*" if scheme == "rediss" else "")
            raise UsageError(f"{flag} {shown}: unknown query parameter '{name}' (simlib accepts {known})")
        if name == "db" and not value.isdigit():
            raise UsageError(f"{flag} {shown}: db must be a database number (got '{value}')")
