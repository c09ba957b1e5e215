"""Starting the API: no work at import, factory mode, fail closed without API keys, a valid port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from churnltv.cli import app as cli
from features.errors import UserInputError
from service.settings import ServiceSettings

NO_MODELS = {"churn_model": "/nonexistent/churn-bundle", "ltv_model": "", "data": None, "score_store": None}


def test_importing_the_app_module_builds_nothing_and_loads_no_heavy_library() -> None:
    code = (
        "import sys, service.api.app, service.cli\n"
        "heavy = [m for m in ('pandas', 'lightgbm', 'mlflow', 'duckdb', 'pyarrow', 'uvicorn') if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
    assert not (Path(__file__).resolve().parents[2] / "service" / "asgi.py").exists()


def test_no_api_keys_refuses_to_build_the_app() -> None:
    from service.api.app import create_app

    with pytest.raises(UserInputError, match="CHURNLTV_API_KEYS is empty") as err:
        create_app(ServiceSettings(api_keys=(), **NO_MODELS))
    assert "CHURNLTV_ALLOW_ANONYMOUS=true" in str(err.value)


def test_anonymous_access_must_be_asked_for_and_then_needs_no_key() -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(ServiceSettings(api_keys=(), allow_anonymous=True, **NO_MODELS))) as client:
        r = client.get("/v1/models")
        assert r.status_code == 200
        assert r.json()["loaded"] is False
        assert "/nonexistent/churn-bundle" in r.json()["error"]


def test_with_keys_a_route_needs_one() -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(ServiceSettings(api_keys=("k1",), **NO_MODELS))) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"X-API-Key": "k2"}).status_code == 403
        assert client.get("/v1/models", headers={"X-API-Key": "k1"}).status_code == 200
        assert client.get("/health").status_code == 200


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Record what `churnltv serve` would hand to uvicorn instead of starting a server."""
    import uvicorn

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    return calls


def test_serve_without_keys_exits_2_naming_the_variable(uvicorn_calls: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["serve"], env={"CHURNLTV_API_KEYS": "", "CHURNLTV_ALLOW_ANONYMOUS": "false"})
    assert result.exit_code == 2, result.output
    assert "CHURNLTV_API_KEYS is empty" in result.output
    assert "Traceback" not in result.output
    assert uvicorn_calls == []


def test_serve_runs_the_app_factory(uvicorn_calls: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "8123"], env={"CHURNLTV_API_KEYS": "k1"})
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = uvicorn_calls
    assert args == ("service.api.app:create_app",)
    assert kwargs["factory"] is True
    assert kwargs["port"] == 8123


def test_serve_allows_anonymous_only_when_set(uvicorn_calls: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["serve"], env={"CHURNLTV_API_KEYS": "", "CHURNLTV_ALLOW_ANONYMOUS": "true"})
    assert result.exit_code == 0, result.output
    assert len(uvicorn_calls) == 1


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_serve_rejects_a_port_outside_1_to_65535(port: str, uvicorn_calls: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", port], env={"CHURNLTV_API_KEYS": "k1"})
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output
    assert "65535" in result.output or "greater than or equal to 1" in result.output
    assert uvicorn_calls == []
