"""How a data source URL is shown: masked in messages and logs, without its password in stored metadata."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def public_url(url: str) -> str:
    """The source URL without a password, as stored in metadata (a duckdb/file path becomes absolute)."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # plain path (or a Windows drive letter)
        return str(Path(url).expanduser().resolve())
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", "@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url
