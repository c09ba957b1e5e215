"""How a data source URL is shown: masked in messages and logs, without its password in stored metadata."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# ``password=...`` in a URL's query string or a libpq keyword string ("host=h password=p")
_PASSWORD_PARAM = re.compile(r"(?i)(\bpassword=)([^&\s]*)")
# ``scheme://user:password@`` anywhere in a text (what is left when the URL does not parse)
_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)@")


def scrub_password(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user, host, port, path and other parameters kept).

    Covers ``user:password@`` and a ``password=`` query parameter; text that is not a parsable URL (an error
    message quoting one, a libpq keyword string) is masked by pattern, so no password is shown either way.
    Paths and URLs without a password come back unchanged.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed netloc, like an unparsable URL
    except ValueError:
        return _mask_by_pattern(text)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if at and colon:
        text = urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostinfo}"))
    # the pattern also covers the query string and a URL quoted inside other text (an error message)
    return _mask_by_pattern(text)


def _mask_by_pattern(text: str) -> str:
    return _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}@", _PASSWORD_PARAM.sub(rf"\g<1>{MASK}", text))


# the former name, kept for callers on other branches
redact_url = scrub_password


def public_url(url: str) -> str:
    """The source URL without a password, as stored in metadata (a duckdb/file path becomes absolute)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL we can take apart: at least no password in it
        return scrub_password(url)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # plain path (or a Windows drive letter)
        return str(Path(url).expanduser().resolve())
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", "@")
        return scrub_password(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return scrub_password(url)
