"""The /v1/predict request schema is the feature catalog, and a bundle is checked against what the service feeds it."""

from __future__ import annotations

from typing import Any

import pytest

from features.feature_spec import FeatureDef, FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from service.model_set import serving_spec_differences
from service.schemas import CustomerFeatures


def _json_types(prop: dict[str, Any]) -> set[str]:
    options = prop.get("anyOf", [prop])
    return {str(o["type"]) for o in options if "type" in o}


def test_customer_features_are_exactly_the_feature_catalog_in_order() -> None:
    catalog = feature_catalog(FeatureSettings())
    fields = [name for name in CustomerFeatures.model_fields if name not in ("customer_id", "as_of")]
    assert fields == [f.name for f in catalog]


@pytest.mark.parametrize("feature", feature_catalog(FeatureSettings()), ids=lambda f: f.name)
def test_each_field_has_the_catalog_type(feature: FeatureDef) -> None:
    prop = CustomerFeatures.model_json_schema()["properties"][feature.name]
    assert "null" in _json_types(prop), "null is how a client says a feature is undefined"
    kinds = _json_types(prop) - {"null"}
    if feature.kind == "categorical":
        assert kinds == {"string"}
    elif feature.kind == "flag":
        (number,) = [o for o in prop["anyOf"] if o.get("type") == "integer"]
        assert (number["minimum"], number["maximum"]) == (0, 1)
    elif feature.dtype == "int":
        assert kinds == {"integer"}
    else:
        assert kinds == {"number"}


def test_no_numeric_feature_accepts_a_negative_value() -> None:
    """Counts, durations, money, ratios and scores are all >= 0 (scores have their own range on top)."""
    props = CustomerFeatures.model_json_schema()["properties"]
    for f in feature_catalog(FeatureSettings()):
        if f.kind == "numeric":
            (numeric,) = [o for o in props[f.name]["anyOf"] if o.get("type") in {"integer", "number"}]
            assert numeric.get("minimum", -1) >= 0, f.name


def _spec(features: list[FeatureDef], **settings: Any) -> FeatureSpec:
    base = FeatureSettings().summary()
    return FeatureSpec(features=features, settings={**base, **settings})


def test_a_bundle_that_fits_has_no_difference() -> None:
    catalog = feature_catalog(FeatureSettings())
    spec = _spec(catalog)
    assert serving_spec_differences(spec, serving=_spec(catalog), source=_spec(catalog)) == []


def test_each_reference_names_what_differs() -> None:
    catalog = feature_catalog(FeatureSettings())
    by_name = {f.name: f for f in catalog}
    unknown = FeatureDef("favourite_colour", "category", "categorical", "x", "x", None, "customers")
    retyped = FeatureDef(**{**by_name["events_30d"].__dict__, "dtype": "float"})
    bundle = _spec([*[retyped if f.name == "events_30d" else f for f in catalog], unknown], dormant_days=30)
    no_tickets = _spec([f for f in catalog if f.source != "support_tickets"], dormant_days=30)
    lines = serving_spec_differences(bundle, serving=_spec(catalog), source=no_tickets)
    assert (
        "request schema: feature 'favourite_colour' is not in the feature catalog, so no request can carry it" in lines
    )
    assert "request schema: feature 'events_30d': dtype is 'int', the bundle expects 'float'" in lines
    assert "serving model: setting 'dormant_days' is 60, expected 30" in lines
    assert "serving model: feature 'events_30d': dtype is 'int', expected 'float'" in lines
    assert any(line.startswith("data source: missing feature 'tickets_90d'") for line in lines)
    assert not any(line.startswith("data source: setting") for line in lines)  # the source used the bundle's settings


def test_without_a_serving_model_or_source_only_the_catalog_is_checked() -> None:
    catalog = feature_catalog(FeatureSettings())
    assert serving_spec_differences(_spec(catalog, dormant_days=30)) == []
    fewer = _spec([f for f in catalog if f.source != "nps_responses"])
    assert serving_spec_differences(fewer) == []  # a bundle may use a subset of the catalog


def test_features_a_reference_has_and_the_bundle_does_not_use_are_fine() -> None:
    catalog = feature_catalog(FeatureSettings())
    fewer = _spec([f for f in catalog if f.source != "nps_responses"])
    assert serving_spec_differences(fewer, serving=_spec(catalog), source=_spec(catalog)) == []
    # the other way round the bundle needs what is not supplied
    lines = serving_spec_differences(_spec(catalog), serving=fewer, source=fewer)
    assert "serving model: missing feature 'nps_last' (float, from nps_responses)" in lines
    assert "data source: missing feature 'nps_last' (float, from nps_responses)" in lines


def test_a_request_may_carry_the_learned_vocabulary_features_and_nothing_else() -> None:
    from pydantic import ValidationError

    from service.schemas import PredictRequest

    body = PredictRequest(customers=[{"customer_id": "a", "ev_post_count_30d": 4, "mod_feed_trend_30d": -0.7}])
    sent = body.customers[0]
    assert {k: getattr(sent, k) for k in sent.model_fields_set} == {
        "customer_id": "a",
        "ev_post_count_30d": 4.0,
        "mod_feed_trend_30d": -0.7,
    }
    for bad, message in (
        ({"favourite_colour": "red"}, "Extra inputs are not permitted"),
        ({"ev_post_count_30d": "many"}, "Input should be a valid number"),
        ({"ev_Post": 1}, "Extra inputs are not permitted"),
    ):
        with pytest.raises(ValidationError) as err:
            PredictRequest(customers=[{"customer_id": "a", **bad}])
        (error,) = err.value.errors()
        assert error["loc"] == ("customers", 0, next(iter(bad)))
        assert error["msg"].startswith(message)


def test_a_bundle_with_a_learned_vocabulary_fits_the_request_schema() -> None:
    from features.behaviour_vocabulary import catalog
    from features.event_vocabulary import EventVocabulary

    settings = FeatureSettings(learned_vocabulary=EventVocabulary(window_days=30, event_types=("post",), modules=()))
    spec = FeatureSpec(features=catalog(settings), settings=settings.summary())
    assert "ev_post_count_30d" in spec.names
    assert serving_spec_differences(spec) == []
