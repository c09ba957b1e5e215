"""Who may call what (issue 19 item 10): admin keys for /admin, public API documents, no CDN on /docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.errors import UserInputError
from service.api.app import create_app
from service.settings import ServiceSettings, load_service_settings

NO_MODELS = {"churn_model": "/nonexistent/churn-bundle", "ltv_model": "", "data": None, "score_store": None}
READ, ADMIN = "read-key", "admin-key"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = ServiceSettings(api_keys=(READ,), admin_api_keys=(ADMIN,), **NO_MODELS)
    with TestClient(create_app(settings)) as c:
        yield c


def test_reload_without_a_key_is_401(client: TestClient) -> None:
    r = client.post("/admin/reload")
    assert r.status_code == 401, r.text
    assert r.json()["detail"] == (
        "missing API key: send an admin key (CHURNLTV_ADMIN_API_KEYS) in the X-API-Key header"
    )


def test_reload_with_a_read_key_is_403(client: TestClient) -> None:
    r = client.post("/admin/reload", headers={"X-API-Key": READ})
    assert r.status_code == 403, r.text
    assert r.json()["detail"] == (
        "API key not accepted for /admin routes: they need an admin key (CHURNLTV_ADMIN_API_KEYS)"
    )
    assert client.post("/admin/reload", headers={"X-API-Key": "nope"}).status_code == 403


def test_reload_with_an_admin_key_reaches_the_reload(client: TestClient) -> None:
    r = client.post("/admin/reload", headers={"X-API-Key": ADMIN})
    assert r.status_code == 409, r.text  # past the key check: the configured bundle does not exist
    assert r.json()["detail"].startswith("reload failed, still serving the previous models: ")


def test_an_admin_key_also_reads_and_a_read_key_still_reads(client: TestClient) -> None:
    assert client.get("/v1/models", headers={"X-API-Key": ADMIN}).status_code == 200
    assert client.get("/v1/models", headers={"X-API-Key": READ}).status_code == 200
    assert client.get("/v1/models").status_code == 401


def test_without_admin_keys_a_read_key_reloads_as_before() -> None:
    with TestClient(create_app(ServiceSettings(api_keys=(READ,), **NO_MODELS))) as c:
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/admin/reload", headers={"X-API-Key": "nope"}).status_code == 403
        assert c.post("/admin/reload", headers={"X-API-Key": READ}).status_code == 409


def test_admin_keys_come_from_the_environment_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_ADMIN_API_KEYS", " a1, a2 ,")
    assert load_service_settings(api_keys="k").admin_api_keys == ("a1", "a2")


def test_openapi_documents_the_admin_scheme_on_reload_only(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["AdminApiKey"]["name"] == "X-API-Key"
    assert doc["paths"]["/admin/reload"]["post"]["security"] == [{"AdminApiKey": []}]
    assert doc["paths"]["/v1/models"]["get"]["security"] == [{"ApiKey": []}]


def test_the_openapi_document_is_public_as_the_readme_says(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`/openapi.json` is public" in readme


def _docs_page_uses_local_files_only(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200, page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls, page.text
    assert all(u.startswith("/docs/assets/") or u.startswith("data:") for u in urls), urls
    assert "https://" not in page.text
    assert "http://" not in page.text


def test_the_default_docs_page_loads_the_bundled_swagger_ui_and_nothing_from_elsewhere(client: TestClient) -> None:
    _docs_page_uses_local_files_only(client)
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads from a CDN: off


def test_docs_off_serves_no_page() -> None:
    settings = ServiceSettings(api_keys=(READ,), docs_assets="off", **NO_MODELS)
    with TestClient(create_app(settings)) as c:
        assert c.get("/docs").status_code == 404
        assert c.get("/docs/assets/swagger-ui-bundle.js").status_code == 404


def test_docs_page_from_local_assets_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};")
    (tmp_path / "swagger-ui.css").write_text("body {}")
    settings = ServiceSettings(api_keys=(READ,), docs_assets=str(tmp_path), **NO_MODELS)
    with TestClient(create_app(settings)) as c:
        _docs_page_uses_local_files_only(c)
        assert c.get("/docs/assets/swagger-ui-bundle.js").text.startswith("window.SwaggerUIBundle")


def test_docs_assets_without_the_files_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"CHURNLTV_DOCS_ASSETS: .*lacks swagger-ui-bundle.js, swagger-ui.css"):
        load_service_settings(api_keys="k", docs_assets=str(tmp_path))
