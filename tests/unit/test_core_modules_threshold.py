"""The "3+ core modules" threshold (docs/DOMAIN.md section 4) is a setting, in the features and the B2B roll-up."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import UserInputError
from features.point_in_time import build_features
from features.settings import FeatureSettings, load_feature_settings
from models.account_rollup import rollup_accounts
from support.contract_rows import CUSTOMERS, CUTOFF, contract_con, event, row

# customer c uses two core modules before the cutoff
TWO_MODULES = [event("c", "2024-03-02", module="m1"), event("c", "2024-03-03", module="m2")]


def test_default_threshold_is_the_articles_three() -> None:
    assert FeatureSettings().core_modules_threshold == 3
    frame, spec = build_features(contract_con(customers=CUSTOMERS, events=TWO_MODULES), [CUTOFF])
    assert row(frame, "c")["core_modules_used_90d"] == 2
    assert row(frame, "c")["uses_3plus_modules"] == 0
    assert spec.settings["core_modules_threshold"] == 3  # recorded with every model


def test_threshold_setting_changes_the_flag_but_not_the_column_name() -> None:
    settings = FeatureSettings(core_modules_threshold=2)
    frame, spec = build_features(contract_con(customers=CUSTOMERS, events=TWO_MODULES), [CUTOFF], settings)
    assert row(frame, "c")["uses_3plus_modules"] == 1
    assert "uses_3plus_modules" in spec.names
    assert spec.settings["core_modules_threshold"] == 2


def test_threshold_from_the_environment_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_FEATURES_CORE_MODULES_THRESHOLD", "4")
    assert load_feature_settings().core_modules_threshold == 4
    monkeypatch.setenv("CHURNLTV_FEATURES_CORE_MODULES_THRESHOLD", "0")
    with pytest.raises(UserInputError, match=r"core_modules_threshold \(CHURNLTV_FEATURES_CORE_MODULES_THRESHOLD\)"):
        load_feature_settings()


def test_account_flag_is_the_max_of_the_users_flags_whatever_the_threshold() -> None:
    # built with threshold 2: users with 2 modules carry flag 1; the account must keep it (max), not re-apply 3
    users = pd.DataFrame(
        {
            "customer_id": ["u1", "u2", "u3"],
            "account_id": ["acme", "acme", "solo"],
            "core_modules_used_90d": [2, 1, 1],
            "uses_3plus_modules": [1, 0, 0],
        }
    )
    accounts = rollup_accounts(users).set_index("account_id")
    assert accounts.loc["acme", "uses_3plus_modules"] == 1
    assert accounts.loc["solo", "uses_3plus_modules"] == 0


def test_account_flag_recomputed_with_the_threshold_when_the_frame_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    users = pd.DataFrame({"customer_id": ["u1", "u2"], "account_id": ["acme", "acme"], "core_modules_used_90d": [2, 1]})
    assert rollup_accounts(users)["uses_3plus_modules"].tolist() == [0]
    assert rollup_accounts(users, core_modules_threshold=2)["uses_3plus_modules"].tolist() == [1]
    monkeypatch.setenv("CHURNLTV_FEATURES_CORE_MODULES_THRESHOLD", "2")
    assert rollup_accounts(users)["uses_3plus_modules"].tolist() == [1]
