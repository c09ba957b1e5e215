"""Request bounds, error bodies and roles of the HTTP API, on an app without models (issue 19 items 7, 9, 10).

Validation happens before a route asks for the models, so a bad request is a 422 (or 415) naming the field
whether or not a model is loaded; the OpenAPI test hands the app a stand-in model set with a feature list.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from features.errors import UserInputError
from service.api.app import create_app
from service.settings import ServiceSettings

NO_MODELS = {"churn_model": "/nonexistent/churn-bundle", "ltv_model": "", "data": None, "score_store": None}
KEY = "read-key"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(api_keys=(KEY,), **NO_MODELS)), headers={"X-API-Key": KEY}) as c:
        yield c


def predict_raw(client: TestClient, customer: str) -> Any:
    """POST a customer given as raw JSON text (numbers the json module would not write, e.g. 400 digits)."""
    return client.post("/v1/predict", content=f'{{"customers": [{customer}]}}'.encode(), headers=JSON)


def field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


# --- item 7: input bounds ---------------------------------------------------------------------------------------


def test_a_400_digit_count_is_a_422_naming_the_field(client: TestClient) -> None:
    r = predict_raw(client, '{"customer_id": "c1", "events_30d": ' + "9" * 400 + "}")
    assert field_errors(r) == {"customers.0.events_30d": "Input should be less than or equal to 1000000000"}


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [("events_30d", 1_000_000_001, "1000000000"), ("txn_amount_total", 2e12, "1000000000000"),
     ("tenure_days", 1e300, "1000000")],
)  # fmt: skip
def test_counts_amounts_and_durations_have_an_upper_bound(
    client: TestClient, field: str, value: float, bound: str
) -> None:
    r = client.post("/v1/predict", json={"customers": [{"customer_id": "c1", field: value}]})
    assert field_errors(r) == {f"customers.0.{field}": f"Input should be less than or equal to {bound}"}


@pytest.mark.parametrize("field", ["events_30d", "tenure_days", "aha_reached", "txn_amount_90d"])
def test_a_boolean_is_not_a_number(client: TestClient, field: str) -> None:
    r = client.post("/v1/predict", json={"customers": [{"customer_id": "c1", field: True}]})
    assert field_errors(r) == {f"customers.0.{field}": "Input should be a number, not a boolean (true)"}


@pytest.mark.parametrize("param", ["budget", "cost_per_action", "save_rate"])
@pytest.mark.parametrize("value", ["inf", "-inf", "NaN"])
def test_retention_list_money_must_be_finite(client: TestClient, param: str, value: str) -> None:
    r = client.get("/v1/retention-list", params={param: value})
    (message,) = field_errors(r).values()
    assert message.startswith("Input should be a finite number"), message


def test_contractual_clv_beyond_its_bounds_is_a_422_naming_the_field(client: TestClient) -> None:
    body = {"formula": "simple", "monthly_margin": 1e308, "monthly_cost": 0, "expected_lifetime_months": 1e308}
    r = client.post("/v1/clv/contractual", json=body)
    assert field_errors(r) == {
        "monthly_margin": "Input should be less than or equal to 1000000000000",
        "expected_lifetime_months": "Input should be less than or equal to 12000",
    }


def test_a_contractual_clv_that_overflows_is_a_422_never_a_null() -> None:
    """The bounds keep every formula finite (largest: 1e12 / (1 - (1 - 2**-53)) ~ 1e29); the guard stays for
    a formula added later, and is tested directly because no request within the bounds reaches it."""
    from fastapi import HTTPException

    from service.api.routes.clv import finite

    with pytest.raises(HTTPException) as err:
        finite("simple", np.array([np.inf]))
    assert err.value.status_code == 422
    assert str(err.value.detail).startswith("clv: formula 'simple' gives a value too large to represent")


def test_the_largest_retention_clv_within_the_bounds_is_finite(client: TestClient) -> None:
    body = {"formula": "retention", "revenue": 1e12, "cost": 0, "retention": 1 - 2**-53, "discount": 0}
    r = client.post("/v1/clv/contractual", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["clv"] > 1e27


def test_contractual_clv_in_range_is_still_a_number(client: TestClient) -> None:
    body = {"formula": "simple", "monthly_margin": 1e12, "monthly_cost": 0, "expected_lifetime_months": 12_000}
    r = client.post("/v1/clv/contractual", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["clv"] == pytest.approx(1.2e16)


def test_openapi_marks_the_features_the_loaded_model_needs_as_required() -> None:
    app = create_app(ServiceSettings(api_keys=(KEY,), **NO_MODELS))
    with TestClient(app, headers={"X-API-Key": KEY}) as c:
        before = c.get("/openapi.json").json()["components"]["schemas"]["CustomerFeatures"]["required"]
        assert before == ["customer_id"]
        spec = SimpleNamespace(names=["events_30d", "tenure_days"])
        app.state.churnltv.models.current = SimpleNamespace(churn=SimpleNamespace(spec=spec))
        schema = c.get("/openapi.json").json()["components"]["schemas"]["CustomerFeatures"]
    assert schema["required"] == ["customer_id", "events_30d", "tenure_days"]
    assert "null" in json.dumps(schema["properties"]["events_30d"]), "required, but null still says 'undefined'"


# --- item 9: messages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv; charset=utf-8"])
def test_a_body_that_is_not_json_is_a_415_naming_its_content_type(client: TestClient, content_type: str) -> None:
    body = b'{"customers": [{"customer_id": "c1"}]}'
    r = client.post("/v1/predict", content=body, headers={"content-type": content_type})
    assert r.status_code == 415, r.text
    media = content_type.split(";", maxsplit=1)[0]
    assert r.json()["detail"] == (
        f"unsupported content type '{media}': send the body as JSON with Content-Type: application/json"
    )


def test_json_with_a_suffix_content_type_is_still_json(client: TestClient) -> None:
    r = client.post(
        "/v1/clv/contractual", content=b'{"formula": "simple"}', headers={"content-type": "application/x+json"}
    )
    assert r.status_code == 422, r.text  # decoded and validated: the formula's inputs are missing
    assert r.json()["detail"].startswith("formula 'simple' needs: ")


def test_deeply_nested_json_says_so_not_an_encoding_error(client: TestClient) -> None:
    r = client.post("/v1/predict", content=b"[" * 5000 + b"]" * 5000, headers=JSON)
    assert field_errors(r) == {
        "body": "malformed JSON: nested too deeply to parse (a request body is at most a few levels deep: an object "
        "holding a list of objects)"
    }


def test_a_body_that_is_not_utf8_is_still_an_encoding_error(client: TestClient) -> None:
    r = client.post("/v1/predict", content=b'{"customers": "caf\xe9"}', headers=JSON)
    assert field_errors(r) == {"body": "malformed JSON: the body cannot be decoded (send UTF-8 encoded JSON)"}


@pytest.mark.parametrize(("value", "shown"), [("NaN", "NaN"), ("inf", "infinity"), ("-Infinity", "-infinity")])
def test_a_non_finite_number_says_which_one(client: TestClient, value: str, shown: str) -> None:
    r = client.get("/v1/retention-list", params={"budget": value})
    assert field_errors(r) == {"query.budget": f"Input should be a finite number, not {shown}"}
    body = predict_raw(client, '{"customer_id": "c1", "tenure_days": NaN}')
    assert field_errors(body) == {"customers.0.tenure_days": "Input should be a finite number, not NaN"}


def test_every_422_a_route_raises_carries_errors(client: TestClient) -> None:
    missing = client.post("/v1/clv/contractual", json={"formula": "saas", "mrr": 10})
    assert field_errors(missing) == {
        "expected_lifetime_months": "Field required by formula 'saas'",
        "cost_to_serve": "Field required by formula 'saas'",
    }
    zero = {"formula": "retention", "revenue": 10, "cost": 1, "retention": 1, "discount": 0}
    assert field_errors(client.post("/v1/clv/contractual", json=zero)) == {
        "retention": "1 + discount - retention must be > 0",
        "discount": "1 + discount - retention must be > 0",
    }


def test_a_plain_422_names_the_field_its_message_starts_with() -> None:
    """A route raising HTTPException(422) with a message only (the as_of checks) still answers ``errors``."""
    from fastapi import FastAPI

    from service.api.app import install_error_handlers
    from service.api.as_of import naive_as_of

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/future")
    def future() -> object:
        return naive_as_of(dt.datetime(2999, 1, 1), "customers.3.as_of")

    @app.get("/sentence")
    def sentence() -> object:
        raise UserInputError("the data has no accounts: no account_id")

    with TestClient(app) as c:
        assert field_errors(c.get("/future")) == {"customers.3.as_of": "2999-01-01T00:00:00 is in the future"}
        assert field_errors(c.get("/sentence")) == {"request": "the data has no accounts: no account_id"}


def test_the_features_a_model_needs_are_listed_per_field() -> None:
    from service.api.invalid_fields import InvalidFields
    from service.api.routes.predict import check_features

    models: Any = SimpleNamespace(churn=SimpleNamespace(spec=SimpleNamespace(names=["events_30d", "tenure_days"])))
    with pytest.raises(InvalidFields) as err:
        check_features(models, [{"customer_id": "c1", "tenure_days": 3.0}])
    assert err.value.detail.startswith("the loaded churn model needs these features: customers.0.events_30d")
    assert err.value.errors == [
        {"field": "customers.0.events_30d", "message": "Field required by the loaded churn model"}
    ]


def test_a_413_on_content_length_is_counted_under_its_route() -> None:
    settings = ServiceSettings(api_keys=(KEY,), max_body_bytes=2048, **NO_MODELS)
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as c:
        r = c.post("/v1/predict", content=b" " * 5000, headers=JSON)
        assert r.status_code == 413, r.text
        metrics = c.get("/metrics").text
    assert 'churnltv_requests_total{method="POST",route="/v1/predict",status="413"} 1.0' in metrics
    assert 'route="unmatched",status="413"' not in metrics
