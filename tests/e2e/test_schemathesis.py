"""Property-based API test: schemathesis over the published OpenAPI schema against the real uvicorn server.

The CRM integrates from the OpenAPI document alone, so every answer the server gives must be documented:
no 5xx (``not_a_server_error``), no undocumented status code or content type, and every body valid against
the documented schema (including error bodies). Bounded: a fixed seed and ``--max-examples`` keep the run
well under two minutes on 2 cores. The regression tests below pin the bugs schemathesis and probing found.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import KEY, MAX_BODY_BYTES, start_server
from support.world import TrainedWorld

pytestmark = pytest.mark.slow

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def server_url(trained_world: TrainedWorld) -> Iterator[str]:
    url, proc = start_server(trained_world)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server_url: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "run",
        f"{server_url}/openapi.json",
        "--header",
        f"X-API-Key: {KEY}",
        "--checks",
        CHECKS,
        "--max-examples",
        "25",
        "--seed",
        "20261125",
        "--no-color",
        "--request-timeout",
        "30",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=170, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", out)
    assert summary is not None, out[-3000:]
    generated, passed = int(summary.group(1)), int(summary.group(2))
    assert generated >= 300, out[-3000:]  # it really exercised the API
    assert passed == generated, out[-3000:]


def test_error_answers_are_documented_with_the_error_body(server_url: str) -> None:
    schema = httpx.get(f"{server_url}/openapi.json").json()
    predict = schema["paths"]["/v1/predict"]["post"]["responses"]
    for code in ("401", "403", "413", "422", "503"):
        ref = predict[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse")
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in metrics


def test_dates_outside_the_datetime_range_are_a_422_not_a_500(server_url: str) -> None:
    """Found while fuzzing: an aware as_of whose UTC value is outside datetime's range crashed astimezone()."""
    headers = {"X-API-Key": KEY}
    for as_of in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        r = httpx.get(f"{server_url}/v1/customers/anyone", params={"as_of": as_of}, headers=headers)
        assert r.status_code == 422, r.text
        assert "as_of" in r.json()["detail"]
        assert "date range" in r.json()["detail"]
        r = httpx.post(
            f"{server_url}/v1/customers:batchGet", json={"customer_ids": ["a"], "as_of": as_of}, headers=headers
        )
        assert r.status_code == 422, r.text


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(server_url: str) -> None:
    """Found by schemathesis: FastAPI answered undecodable bytes with an undocumented bare 400."""
    r = httpx.post(
        f"{server_url}/v1/predict",
        content=b"R\xff\xfe",
        headers={"X-API-Key": KEY, "content-type": "application/json"},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["field"] == "body"
    assert "UTF-8" in body["detail"]


def test_a_chunked_body_over_the_limit_is_a_413(server_url: str) -> None:
    """No Content-Length (chunked upload): the limit is enforced while the body streams in."""

    item = b'{"customer_id": "x", "events_30d": 1},'

    def chunks() -> Iterator[bytes]:
        yield b'{"customers": ['
        for _ in range(MAX_BODY_BYTES // len(item) + 100):
            yield item
        yield b'{"customer_id": "y"}]}'

    r = httpx.post(
        f"{server_url}/v1/predict", content=chunks(), headers={"X-API-Key": KEY, "content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert "over the limit" in r.json()["detail"]
    assert httpx.get(f"{server_url}/health").status_code == 200
