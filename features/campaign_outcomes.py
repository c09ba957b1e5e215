"""Past campaign contacts as training rows: who was contacted with which action (or held out), what we knew
about them at the contact, and what happened over the horizon after it.

One row per row of ``campaign_contacts``. The *outcome* of a contact is the product's own churn label
(``features.labels.churned_after``: the same definition the churn model is trained on) over the horizon H after
``contacted_at``, read as ``retained = 1 - churned``, plus ``spend``: the amount paid in ``[contacted_at,
contacted_at + H)`` from ``transactions`` (NaN when the data has no transactions table). A contact whose horizon
is not over by the data's last activity is kept with ``observable = False`` and NaN outcomes: it is counted in
every summary, never silently dropped, and never learned from.

The *features* of a contact are the point-in-time features at the start of its day (``as_of`` =
``contacted_at`` floored to midnight: everything strictly before the contact day, so nothing from the contact
or after it leaks in), plus the customer's ``attr_*`` attributes. They are built once per distinct contact day
for the customers contacted that day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.contract import CONTROL_ARM
from features.errors import UserInputError
from features.settings import FeatureSettings

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from features.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)

CONTACT_COLUMNS = ("customer_id", "campaign_id", "contacted_at", "arm", "cost")


def has_campaign_contacts(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection carries a (non-empty) ``campaign_contacts`` table."""
    present = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'campaign_contacts'"
    ).fetchone()
    if not present or not present[0]:
        return False
    rows = con.execute("SELECT count(*) FROM campaign_contacts").fetchone()
    return bool(rows and rows[0])


def read_contacts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every contact, typed: customer_id, campaign_id, arm (str), contacted_at (datetime64[us]), cost (float, NaN
    when not given); sorted by contacted_at, campaign_id, customer_id."""
    import pandas as pd

    if not has_campaign_contacts(con):
        raise UserInputError(
            "the data has no campaign_contacts table (or it is empty): uplift models learn from past campaigns "
            "with a random control group; see docs/RETENTION_DECISIONS.md for the table's columns"
        )
    columns = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE campaign_contacts)").fetchall()}
    cost = "cost" if "cost" in columns else "NULL::DOUBLE AS cost"
    frame = con.execute(
        f"SELECT customer_id, campaign_id, contacted_at, trim(arm) AS arm, {cost} FROM campaign_contacts "
        "ORDER BY contacted_at, campaign_id, customer_id"
    ).df()
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype(str),
            "campaign_id": frame["campaign_id"].astype(str),
            "contacted_at": frame["contacted_at"].astype("datetime64[us]"),
            "arm": frame["arm"].astype(str),
            "cost": frame["cost"].astype("float64"),
        }
    )


def contact_outcomes(
    con: duckdb.DuckDBPyConnection, contacts: pd.DataFrame, settings: FeatureSettings | None = None
) -> pd.DataFrame:
    """``contacts`` with ``observable`` (bool), ``retained`` (0/1, NaN when not observable) and ``spend``."""
    import numpy as np

    from features.labels import churned_after
    from features.point_in_time import present_columns

    settings = settings or FeatureSettings()
    churned = churned_after(con, contacts[["customer_id", "contacted_at"]], settings, time_column="contacted_at")
    observable = ~np.isnan(churned)
    out = contacts.copy()
    out["observable"] = observable
    out["retained"] = np.where(observable, 1.0 - churned, np.nan)
    if "transactions" in present_columns(con):
        spend = _spend_after(con, contacts, settings.horizon_days)
        out["spend"] = np.where(observable, spend, np.nan)
    else:
        out["spend"] = np.nan
    unobserved = int((~observable).sum())
    if unobserved:
        logger.info(
            "%d of %d contact(s) are too recent for a %d-day outcome (kept, not learned from)",
            unobserved,
            len(out),
            settings.horizon_days,
        )
    return out


def _spend_after(con: duckdb.DuckDBPyConnection, contacts: pd.DataFrame, horizon_days: int) -> npt.NDArray[np.float64]:
    import numpy as np
    import pandas as pd

    params = {
        "i": list(range(len(contacts))),
        "ids": contacts["customer_id"].astype(str).tolist(),
        "t0": [pd.Timestamp(t).to_pydatetime() for t in contacts["contacted_at"]],
    }
    rows = con.execute(
        "SELECT p.i, coalesce(sum(t.amount), 0) FROM (SELECT unnest($i::BIGINT[]) AS i, "
        "unnest($ids::VARCHAR[]) AS customer_id, unnest($t0::TIMESTAMP[]) AS t0) p LEFT JOIN transactions t "
        "ON t.customer_id = p.customer_id AND t.occurred_at >= p.t0 "
        f"AND t.occurred_at < p.t0 + INTERVAL {int(horizon_days)} DAY GROUP BY p.i",
        params,
    ).fetchall()
    spend = np.zeros(len(contacts))
    for i, amount in rows:
        spend[int(i)] = float(amount)
    return spend


def customer_attributes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``customer_id`` plus every ``attr_*`` column of ``customers`` (text attributes as str, numbers as float)."""
    import pandas as pd

    names = [
        r[0]
        for r in con.execute("SELECT column_name FROM (DESCRIBE customers)").fetchall()
        if str(r[0]).startswith("attr_")
    ]
    if not names:
        return pd.DataFrame({"customer_id": pd.Series([], dtype=str)})
    select = ", ".join(f'"{n}"' for n in names)
    frame = con.execute(f"SELECT customer_id, {select} FROM customers").df()
    frame["customer_id"] = frame["customer_id"].astype(str)
    for name in names:
        if pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name]):
            frame[name] = frame[name].astype("float64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


@dataclass(frozen=True)
class ContactFeatures:
    """Features of every contact, row-aligned with the contacts frame, and their specification."""

    frame: pd.DataFrame
    spec: FeatureSpec
    attributes: list[str]


def features_at(
    con: duckdb.DuckDBPyConnection,
    customer_ids: Sequence[str] | None,
    as_of: pd.Timestamp,
    settings: FeatureSettings,
    attributes: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, FeatureSpec, list[str]]:
    """Point-in-time features at ``as_of`` (all customers when ``customer_ids`` is None) joined with attr_*."""
    from features.point_in_time import build_features

    frame, spec = build_features(con, [as_of], settings, customer_ids=customer_ids)
    attrs = customer_attributes(con) if attributes is None else attributes
    names = [c for c in attrs.columns if c != "customer_id"]
    if names:
        frame = frame.merge(attrs, on="customer_id", how="left", validate="many_to_one")
    return frame, spec, names


def contact_features(
    con: duckdb.DuckDBPyConnection, contacts: pd.DataFrame, settings: FeatureSettings | None = None
) -> ContactFeatures:
    """Point-in-time features at each contact's day (see the module docstring), row-aligned with ``contacts``."""
    import pandas as pd

    settings = settings or FeatureSettings()
    days = contacts["contacted_at"].dt.floor("D")
    attributes = customer_attributes(con)
    parts: list[pd.DataFrame] = []
    spec: FeatureSpec | None = None
    names: list[str] = []
    for day, rows in contacts.groupby(days, sort=True):
        ids = sorted(set(rows["customer_id"]))
        frame, spec, names = features_at(con, ids, pd.Timestamp(day), settings, attributes)
        parts.append(frame[frame["customer_id"].isin(ids)])
    if spec is None:
        raise UserInputError("campaign_contacts has no rows to build features for")
    stacked = pd.concat(parts, ignore_index=True)
    for name in spec.categorical:  # categories differ between days; the learners encode them from strings
        stacked[name] = stacked[name].astype(object).where(stacked[name].notna(), None)
    keyed = stacked.set_index(["customer_id", "as_of"])
    index = pd.MultiIndex.from_arrays(
        [contacts["customer_id"].to_numpy(), days.astype("datetime64[us]").to_numpy()], names=["customer_id", "as_of"]
    )
    aligned = keyed.reindex(index)
    # a contacted customer who had not signed up before the contact day has no feature row: a data error
    absent = ~index.isin(keyed.index)
    if absent.any():
        first = contacts[absent].iloc[0]
        raise UserInputError(
            f"campaign_contacts: {int(absent.sum())} contact(s) happen before the customer signed up, e.g. customer "
            f"{first['customer_id']!r} in campaign {first['campaign_id']!r} contacted at {first['contacted_at']}"
        )
    out = aligned.reset_index()
    out.index = contacts.index
    logger.info("built features for %d contact(s) on %d contact day(s)", len(out), days.nunique())
    return ContactFeatures(frame=out, spec=spec, attributes=names)


def is_control(arm: pd.Series) -> pd.Series:
    """True where the arm is the randomly held-out control group."""
    return arm == CONTROL_ARM
