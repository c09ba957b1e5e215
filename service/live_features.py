"""Live lookups: which customers the data source knows at a cutoff, and their point-in-time features.

The API's routes run no SQL: ``GET /v1/customers/{id}``, ``POST /v1/customers:batchGet`` and
``GET /v1/accounts/{id}`` read ids and features through these functions, on a cursor of the
serving data source (``service.api.state.LiveData``). Features come from
``features.point_in_time.build_features`` with the serving churn model's own feature settings
(``FeatureSettings.from_spec``), the same definitions batch scoring uses, so a live answer and a
batch row for the same customer and cutoff agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from features.errors import UserInputError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings


class NoAccountsError(UserInputError):
    """The customer data has no B2B accounts at all (``customers.account_id`` absent or empty)."""

    def __init__(self) -> None:
        super().__init__("account_id: the customer data has no accounts (customers.account_id is empty)")


def known_customers(cursor: duckdb.DuckDBPyConnection, ids: Sequence[str], as_of: dt.datetime) -> list[str]:
    """``ids`` that are customers signed up before ``as_of``, in the order given (unknown ones left out)."""
    import pandas as pd

    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    known = {
        str(r[0])
        for r in cursor.execute(
            f"SELECT customer_id FROM customers WHERE customer_id IN ({marks}) AND signup_at < ?",
            [*ids, pd.Timestamp(as_of)],
        ).fetchall()
    }
    return [i for i in ids if i in known]


def account_users(
    cursor: duckdb.DuckDBPyConnection,
    account_id: str,
    as_of: dt.datetime,
    columns: Mapping[str, set[str]] | None = None,
) -> list[str]:
    """The users of ``account_id`` signed up before ``as_of``, sorted; empty for an unknown account.

    Raises ``NoAccountsError`` when the data has no accounts at all (sources show every contract column, so data
    without accounts usually has an all-null ``account_id``): that is a 422, an unknown account a 404.
    ``columns`` is the source's ``present_columns`` when the caller holds it (``LiveData.columns``).
    """
    import pandas as pd

    from features.point_in_time import present_columns

    if columns is None:
        columns = present_columns(cursor)
    if "account_id" not in columns.get("customers", set()):
        raise NoAccountsError
    ids = [
        str(r[0])
        for r in cursor.execute(
            "SELECT customer_id FROM customers WHERE account_id = ? AND signup_at < ? ORDER BY customer_id",
            [account_id, pd.Timestamp(as_of)],
        ).fetchall()
    ]
    if not ids and not cursor.execute("SELECT 1 FROM customers WHERE account_id IS NOT NULL LIMIT 1").fetchall():
        raise NoAccountsError
    return ids


def customer_features(
    cursor: duckdb.DuckDBPyConnection,
    ids: Sequence[str],
    as_of: dt.datetime,
    settings: FeatureSettings,
    columns: Mapping[str, set[str]] | None = None,
) -> pd.DataFrame:
    """Point-in-time features of ``ids`` (known customers) at ``as_of``, one row each.

    ``columns``: the source's ``present_columns`` when the caller holds it (``LiveData.columns``), so a lookup
    does not read the catalog again.
    """
    import pandas as pd

    from features.point_in_time import build_features

    frame, _ = build_features(cursor, [pd.Timestamp(as_of)], settings, customer_ids=list(ids), columns=columns)
    return frame


def model_feature_settings(spec: FeatureSpec) -> FeatureSettings:
    """The feature settings a churn bundle was trained with, validated once per distinct settings: validating
    them (pydantic-settings also reads the environment) costs ~2-5 ms, as much as the rest of a lookup's Python."""
    import json

    from features.settings import FeatureSettings

    key = json.dumps(spec.settings or {}, sort_keys=True, default=str)
    settings = _SETTINGS.get(key)
    if settings is None:
        settings = FeatureSettings.from_recorded(spec.settings)  # the one rule for rebuilding a model's settings
        if len(_SETTINGS) < 16:  # a handful of bundles over a server's life; never grows without bound
            _SETTINGS[key] = settings
    return settings


_SETTINGS: dict[str, FeatureSettings] = {}


def source_spec(cursor: duckdb.DuckDBPyConnection, as_of: dt.datetime, settings: FeatureSettings) -> FeatureSpec:
    """The features this data source yields with ``settings`` (which tables and columns exist; no customer rows)."""
    import pandas as pd

    from features.point_in_time import build_features

    _, spec = build_features(cursor, [pd.Timestamp(as_of)], settings, customer_ids=[])
    return spec
