"""The installed churnltv version, read from package metadata (the service must not import the CLI root)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def service_version() -> str:
    try:
        return version("churnltv")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"
