"""``scrub_password``: the password of a source URL becomes ``***``; everything else is kept (issue 19 item 2)."""

from __future__ import annotations

import pytest

from features.source_url import public_url, scrub_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:secret@db.example:5432/shop", "postgresql://user:***@db.example:5432/shop"),
        ("postgresql://user:secret@host/db?schema=crm&table=s", "postgresql://user:***@host/db?schema=crm&table=s"),
        ("postgresql://user:p%40ss@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:@host/db", "postgresql://user:***@host/db"),
        ("postgresql://host/db?sslmode=require&password=secret", "postgresql://host/db?sslmode=require&password=***"),
        ("postgresql://host/db?PASSWORD=secret&schema=x", "postgresql://host/db?PASSWORD=***&schema=x"),
        ("host=h password=secret dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://user:secret@[::1/db", "postgresql://user:***@[::1/db"),  # unparsable: masked by pattern
        ("postgresql://user:secret@host:port/db", "postgresql://user:***@host:port/db"),
        ("cannot connect to postgresql://u:secret@h/db: refused", "cannot connect to postgresql://u:***@h/db: refused"),
    ],
)
def test_the_password_is_masked_and_the_rest_kept(url: str, shown: str) -> None:
    assert scrub_password(url) == shown


@pytest.mark.parametrize(
    "url", ["postgresql://user@host/db", "postgresql://host/db?schema=x", "data/demo.duckdb", "/tmp/data dir", ""]
)
def test_a_url_without_a_password_is_unchanged(url: str) -> None:
    assert scrub_password(url) == url


def test_stored_metadata_drops_the_password_and_survives_an_unparsable_url() -> None:
    assert public_url("postgresql://user:secret@host/db?schema=x") == "postgresql://user@host/db?schema=x"
    assert "secret" not in public_url("postgresql://user:secret@[::1/db")
