"""Behaviour features from the data's own event vocabulary: learning, names, phrases, point-in-time values."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from features.behaviour_vocabulary import catalog, vocabulary_features
from features.event_vocabulary import EventVocabulary, groups, slug
from features.feature_spec import FeatureSpec
from features.point_in_time import build_features
from features.settings import FeatureSettings
from features.vocabulary_learning import learn_vocabulary, with_learned_vocabulary
from service.model_set import serving_spec_differences
from support.contract_rows import CUTOFF, T, contract_con, customer, row

DAY = pd.Timedelta(days=1)


def ev(cid: str, at: str | pd.Timestamp, event_type: str, module: str = "feed", value: float | None = None) -> dict:
    return {"customer_id": cid, "occurred_at": T(at), "event_type": event_type, "module": module, "value": value}


def many(event_type: str, n: int, module: str = "feed", *, cid: str = "bulk", value: float | None = None) -> list:
    """``n`` events of one type, one a minute, well before the cutoff (volume for the learning thresholds)."""
    start = T("2024-01-05")
    return [ev(cid, start + pd.Timedelta(minutes=i), event_type, module, value) for i in range(n)]


def vocab(**kw: Any) -> EventVocabulary:
    fields: dict[str, Any] = {"window_days": 30, "event_types": ("post", "view_ad"), "modules": ("feed",)}
    return EventVocabulary(**(fields | kw))


# -- learning ------------------------------------------------------------------------------------------------------
def test_learns_types_with_enough_events_and_share_the_rest_go_to_other() -> None:
    events = many("post", 300) + many("view_ad", 150) + many("rare", 99)
    # "after" is dated at or after the cutoff: the vocabulary reads only events before it
    events += [ev("bulk", CUTOFF + pd.Timedelta(minutes=i), "after") for i in range(500)]
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=events)
    learned = learn_vocabulary(con, CUTOFF, FeatureSettings())
    assert learned is not None
    assert learned.event_types == ("post", "view_ad")  # rare: 99 < 100 events; after: not before the cutoff
    assert learned.modules == ("feed",)
    assert learned.window_days == 30
    assert learned.other_types  # rare was left out: other columns hold it
    assert not learned.other_modules  # every module has its own columns: no column of zeros


def test_without_an_other_group_an_unseen_type_counts_only_in_the_shares() -> None:
    settings = FeatureSettings(learned_vocabulary=vocab(other_types=False, other_modules=False))
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    frame, spec = build_features(con, [CUTOFF], settings)
    assert not [n for n in spec.names if "_other_" in n]
    assert row(frame, "a")["ev_post_share_30d"] == pytest.approx(3 / 5)  # the "poke" is still one of 5 events


def test_a_type_below_the_share_threshold_is_other_even_with_many_events() -> None:
    events = many("post", 30_000) + many("share", 140)  # 140 / 30,140 = 0.46% < 0.5%
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=events)
    learned = learn_vocabulary(con, CUTOFF, FeatureSettings())
    assert learned is not None
    assert learned.event_types == ("post",)
    looser = learn_vocabulary(con, CUTOFF, FeatureSettings(vocabulary_min_share=0.004))
    assert looser is not None
    assert looser.event_types == ("post", "share")


def test_the_cap_keeps_the_most_frequent_ties_by_name_in_name_order() -> None:
    events = many("d", 120) + many("b", 120) + many("a", 120) + many("c", 200)
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=events)
    learned = learn_vocabulary(con, CUTOFF, FeatureSettings(vocabulary_max_types=3))
    assert learned is not None
    assert learned.event_types == ("a", "b", "c")  # d loses the three-way tie by name


def test_value_sum_only_for_types_whose_value_varies() -> None:
    events = many("post", 100, value=3.0) + many("view_ad", 100, value=1.0)
    events[0]["value"] = 7.0
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=events)
    learned = learn_vocabulary(con, CUTOFF, FeatureSettings())
    assert learned is not None
    assert learned.value_types == ("post",)
    names = [f.name for f in vocabulary_features(learned)]
    assert "ev_post_value_30d" in names
    assert "ev_view_ad_value_30d" not in names


def test_off_switch_learns_nothing_and_builds_no_vocabulary_column() -> None:
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=many("post", 200))
    off = FeatureSettings(vocabulary="off")
    assert learn_vocabulary(con, CUTOFF, off) is None
    assert with_learned_vocabulary(con, [CUTOFF], off) is off
    _frame, spec = build_features(con, [CUTOFF], off.model_copy(update={"learned_vocabulary": vocab()}))
    assert not [n for n in spec.names if n.startswith(("ev_", "mod_"))]
    # without a learned vocabulary (no training run) no build learns one by itself
    assert not [c for c in build_features(con, [CUTOFF])[0].columns if c.startswith("ev_")]


def test_with_learned_vocabulary_keeps_an_existing_one() -> None:
    con = contract_con(customers=[customer("bulk", "2024-01-01")], events=many("post", 200))
    pinned = FeatureSettings(learned_vocabulary=vocab(event_types=("login",)))
    assert with_learned_vocabulary(con, [CUTOFF], pinned) is pinned
    learned = with_learned_vocabulary(con, [CUTOFF], FeatureSettings())
    assert learned.learned_vocabulary is not None
    assert learned.learned_vocabulary.event_types == ("post",)


# -- names and phrases -------------------------------------------------------------------------------------------
def test_names_are_slugs_unique_and_other_is_reserved() -> None:
    assert slug("View Ad!") == "view_ad"
    assert slug("***") == "x"
    prefixes = [g.prefix for g in groups(vocab(event_types=("View Ad", "view_ad", "other"), modules=("Feed",)))]
    assert prefixes == ["ev_view_ad", "ev_view_ad_2", "ev_other_2", "ev_other", "mod_feed", "mod_other"]


def test_columns_of_a_type_and_a_module() -> None:
    names = [f.name for f in vocabulary_features(vocab(value_types=("post",)))]
    assert names[:7] == [
        "ev_post_count_30d",
        "ev_post_active_days_30d",
        "ev_post_per_active_day_30d",
        "ev_post_trend_30d",
        "ev_post_per_tenure_day",
        "ev_post_value_30d",
        "ev_post_share_30d",
    ]
    assert [n for n in names if n.startswith("mod_feed")] == [
        "mod_feed_count_30d",
        "mod_feed_active_days_30d",
        "mod_feed_trend_30d",
        "mod_feed_share_30d",
    ]
    assert "ev_other_count_30d" in names
    assert "mod_other_share_30d" in names
    assert next(f.name for f in vocabulary_features(vocab(window_days=90))) == "ev_post_count_90d"


def test_phrases_come_from_the_type_name() -> None:
    settings = FeatureSettings(learned_vocabulary=vocab())
    spec = FeatureSpec(features=catalog(settings), settings=settings.summary())
    assert spec.describe("ev_post_count_30d", 4, 11) == 'did "post" 4 times in the last 30 days (typical: 11)'
    assert spec.describe("ev_post_trend_30d", math.log(5 / 12)) == '"post" down 58% vs the 30 days before'
    assert spec.describe("ev_view_ad_share_30d", 0.25) == '"view_ad" 25% of all activity in the last 30 days'
    assert spec.describe("mod_feed_active_days_30d", 3) == 'used module "feed" on 3 of the last 30 days'
    assert spec.describe("ev_other_count_30d", 2) == "did rare event types 2 times in the last 30 days"
    braces = FeatureSettings(learned_vocabulary=vocab(event_types=("{x}",)))
    spec = FeatureSpec(features=catalog(braces), settings=braces.summary())
    assert spec.describe("ev_x_count_30d", 1) == 'did "{x}" 1 times in the last 30 days'


# -- values, point in time -----------------------------------------------------------------------------------------
CUSTOMERS = [customer("a", "2024-01-10"), customer("b", "2024-03-01")]
EVENTS = [
    ev("a", "2024-03-09 23:00", "post", value=5.0),
    ev("a", "2024-03-09 10:00", "post", value=2.0),
    ev("a", "2024-03-01 10:00", "post", value=1.0),
    ev("a", "2024-02-01 10:00", "post", value=9.0),  # the 30 days before: 2024-01-10 .. 02-09
    ev("a", "2024-01-20 10:00", "post", value=9.0),  # also the window before
    ev("a", "2024-03-05 10:00", "view_ad", "ads"),
    ev("a", "2024-03-06 10:00", "poke", "ads"),  # unseen at training: other
    ev("a", "2024-03-10 00:00", "post", value=100.0),  # exactly at the cutoff: excluded
    ev("a", "2024-03-12 00:00", "view_ad", "ads"),  # after the cutoff: excluded
    ev("b", "2024-03-05 10:00", "login", "home"),  # unseen type and module
]


@pytest.fixture
def built() -> tuple[pd.DataFrame, FeatureSpec]:
    settings = FeatureSettings(learned_vocabulary=vocab(value_types=("post",)))
    return build_features(contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], settings)


def test_counts_days_rates_and_value_in_the_window(built: tuple[pd.DataFrame, FeatureSpec]) -> None:
    a = row(built[0], "a")
    # window [02-09, 03-10): posts on 03-01, 03-09 (twice); the cutoff's own post is excluded
    assert (a["ev_post_count_30d"], a["ev_post_active_days_30d"]) == (3, 2)
    assert a["ev_post_per_active_day_30d"] == 1.5
    assert a["ev_post_value_30d"] == 8.0
    assert a["ev_post_trend_30d"] == pytest.approx(math.log(4 / 3))  # 3 now, 2 in the 30 days before
    assert a["ev_post_per_tenure_day"] == pytest.approx(5 / 60)  # 5 posts since signup, 60 days of tenure
    assert a["ev_post_share_30d"] == pytest.approx(3 / 5)  # 3 of 5 events in the window
    assert a["ev_view_ad_count_30d"] == 1  # the one after the cutoff is excluded


def test_unseen_type_goes_to_other_and_absent_type_is_zero(built: tuple[pd.DataFrame, FeatureSpec]) -> None:
    a, b = row(built[0], "a"), row(built[0], "b")
    assert a["ev_other_count_30d"] == 1  # "poke"
    assert b["ev_other_count_30d"] == 1
    assert b["ev_other_share_30d"] == 1.0
    assert b["mod_other_count_30d"] == 1
    assert b["mod_feed_count_30d"] == 0
    for name in ("ev_post_count_30d", "ev_post_active_days_30d", "ev_post_per_active_day_30d", "ev_post_value_30d"):
        assert b[name] == 0, name
    assert b["ev_post_trend_30d"] == 0.0
    assert b["ev_post_share_30d"] == 0.0
    assert not built[0][[n for n in built[1].names if n.startswith(("ev_", "mod_"))]].isna().any().any()


def test_a_base_without_any_trained_type_still_builds_the_columns() -> None:
    settings = FeatureSettings(learned_vocabulary=vocab())
    con = contract_con(customers=CUSTOMERS, events=[ev("a", "2024-03-05", "login", "home")])
    frame, spec = build_features(con, [CUTOFF], settings)
    assert frame.loc[frame["customer_id"] == "a", "ev_post_count_30d"].item() == 0
    assert [f.name for f in vocabulary_features(vocab())] == [n for n in spec.names if n.startswith(("ev_", "mod_"))]


def test_features_at_an_earlier_cutoff_ignore_later_events() -> None:
    settings = FeatureSettings(learned_vocabulary=vocab(value_types=("post",)))
    con = contract_con(customers=CUSTOMERS, events=EVENTS)
    early = CUTOFF - 5 * DAY  # 03-05: the 03-05 view is at or after it
    frame, _ = build_features(con, [early, CUTOFF], settings)
    a = row(frame, "a", early)
    assert (a["ev_post_count_30d"], a["ev_view_ad_count_30d"], a["ev_other_count_30d"]) == (1, 0, 0)
    assert a["ev_post_value_30d"] == 1.0


# -- the spec carries the vocabulary --------------------------------------------------------------------------------
def test_the_spec_records_the_vocabulary_and_rebuilds_the_same_columns(
    built: tuple[pd.DataFrame, FeatureSpec],
) -> None:
    frame, spec = built
    again = FeatureSpec.from_json(spec.to_json())
    rebuilt = FeatureSettings.from_recorded(again.settings)
    assert rebuilt.learned_vocabulary == vocab(value_types=("post",))
    frame2, spec2 = build_features(contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], rebuilt)
    assert spec2.names == spec.names
    pd.testing.assert_frame_equal(frame2, frame)
    assert serving_spec_differences(spec, serving=spec2, source=spec2) == []


def test_a_different_vocabulary_is_a_spec_difference(built: tuple[pd.DataFrame, FeatureSpec]) -> None:
    _, spec = built
    other = FeatureSettings(learned_vocabulary=vocab(event_types=("post", "like"), value_types=("post",)))
    _, spec2 = build_features(contract_con(customers=CUSTOMERS, events=EVENTS), [CUTOFF], other)
    assert any("learned_vocabulary" in d for d in spec.diff(spec2))


def test_older_specs_without_a_vocabulary_load_without_one() -> None:
    recorded = FeatureSettings().summary()
    for key in ("vocabulary", "vocabulary_max_types", "vocabulary_min_share", "learned_vocabulary"):
        recorded.pop(key)
    recorded["a_setting_of_a_future_release"] = 1
    assert FeatureSettings.from_recorded(recorded).learned_vocabulary is None


def test_active_days_of_a_window_longer_than_one_mask_word() -> None:
    settings = FeatureSettings(learned_vocabulary=vocab(window_days=90))
    days_back = (1, 61, 62, 63, 80, 89, 89)  # across the 62-day words; the same day twice counts once
    events = [ev("a", CUTOFF - d * DAY + pd.Timedelta(hours=1), "post") for d in days_back]
    frame, _ = build_features(contract_con(customers=[customer("a", "2023-01-01")], events=events), [CUTOFF], settings)
    a = row(frame, "a")
    assert (a["ev_post_count_90d"], a["ev_post_active_days_90d"]) == (7, 6)
    assert a["mod_feed_active_days_90d"] == 6
