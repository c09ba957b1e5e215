"""A password in ``CHURNLTV_DATA`` / ``CHURNLTV_SCORE_STORE`` is never shown: not in a response, not in a log line,
not in CLI output, not in the run records of the score store (issue 19 item 2).

The real PostgreSQL at 127.0.0.1:5432 uses trust auth, so a URL with a password connects exactly like one without:
the same data is reached through ``postgres:s3cr3tPW@``. A second URL with the same password points at a closed port,
so the error paths (503 bodies, /ready, "cannot connect" messages, log warnings) are exercised too. Every body and
every captured log and output line is searched for the password; the URL must still be named (masked as ``***``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from churnltv.cli import app as cli
from service.settings import ServiceSettings
from support.postgres import PG, load_and_score
from support.server import KEY, free_port
from support.world import AS_OF, TrainedWorld

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET = "s3cr3tPW"
WITH_SECRET = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test"


@dataclass(frozen=True)
class SecretUrls:
    world: TrainedWorld
    schema: str
    data: str
    """The world's tables in PostgreSQL, reached with a password in the URL."""
    store: str
    """A score store holding a complete run, reached with a password in the URL."""
    closed: str
    """The same password, on a port nobody listens on."""
    customer_id: str


@pytest.fixture(scope="module")
def urls(trained_world: TrainedWorld) -> Iterator[SecretUrls]:
    schema = f"secret_{uuid.uuid4().hex[:10]}"
    try:
        load_and_score(trained_world, PG, schema)  # tables and a complete run, written without a password
        with psycopg.connect(PG) as conn:
            row = conn.execute(f'SELECT min(customer_id) FROM "{schema}".scores').fetchone()
        assert row is not None
        yield SecretUrls(
            world=trained_world,
            schema=schema,
            data=f"{WITH_SECRET}?schema={schema}",
            store=f"{WITH_SECRET}?table=scores&schema={schema}",
            closed=f"postgresql://postgres:{SECRET}@127.0.0.1:{free_port()}/test?schema={schema}",
            customer_id=str(row[0]),
        )
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _settings(urls: SecretUrls, *, data: str, store: str) -> ServiceSettings:
    return ServiceSettings(
        api_keys=(KEY,),
        tracking_uri=urls.world.tracking_uri,
        churn_model=str(urls.world.churn_bundle),
        ltv_model=str(urls.world.ltv_bundle),
        data=data,
        score_store=store,
    )


def _answers(settings: ServiceSettings, customer_id: str) -> dict[str, tuple[int, str]]:
    """Status and body of every route that can name the data source or the score store."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    calls = {
        "health": "/health",
        "ready": "/ready",
        "models": "/v1/models",
        "known customer": f"/v1/customers/{customer_id}",
        "unknown customer": "/v1/customers/nobody-at-all",
        "live customer": f"/v1/customers/{customer_id}?as_of={AS_OF.date().isoformat()}",
        "retention list": "/v1/retention-list",
    }
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        out = {}
        for name, path in calls.items():
            r = client.get(path, headers={"X-API-Key": KEY})
            out[name] = (r.status_code, r.text)
        return out


def _assert_never_shown(texts: dict[str, str]) -> None:
    leaked = [name for name, text in texts.items() if SECRET in text]
    assert not leaked, {name: texts[name][:2000] for name in leaked}


def test_the_api_masks_the_password_of_a_reachable_source_and_an_unreachable_store(
    urls: SecretUrls, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = _answers(_settings(urls, data=urls.data, store=urls.closed), urls.customer_id)
    out = capsys.readouterr()
    ready_status, ready = answers["ready"]
    assert ready_status == 503, ready  # the store is down: /ready says so, naming it
    assert "postgres:***@127.0.0.1" in ready
    status, body = answers["retention list"]  # read from the store only
    assert status == 503, body
    assert "postgres:***@127.0.0.1" in body
    _assert_never_shown(
        {**{name: body for name, (_, body) in answers.items()}, "log": caplog.text, "out": out.out + out.err}
    )


def test_the_api_masks_the_password_of_an_unreachable_source(
    urls: SecretUrls, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = _answers(_settings(urls, data=urls.closed, store=urls.store), urls.customer_id)
    out = capsys.readouterr()
    ready_status, ready = answers["ready"]
    assert ready_status == 503, ready
    assert "postgres:***@127.0.0.1" in ready
    status, body = answers["unknown customer"]  # not in the batch run: needs the live source, which is down
    assert status == 503, body
    assert "***" in body
    assert "data source" in caplog.text  # the start-up warning names the source (masked)
    _assert_never_shown(
        {**{name: body for name, (_, body) in answers.items()}, "log": caplog.text, "out": out.out + out.err}
    )


def test_cli_runs_and_the_run_records_mask_the_password(
    urls: SecretUrls, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {**urls.world.env, "CHURNLTV_SCORE_WORKERS": "1"}
    models = ["--churn-model", str(urls.world.churn_bundle), "--ltv-model", str(urls.world.ltv_bundle)]
    store = f"{WITH_SECRET}?table=scores_cli&schema={urls.schema}"
    runner = CliRunner()
    results = {
        "score": runner.invoke(
            cli,
            ["score", "--data", urls.data, "--output", store, "--as-of", AS_OF.date().isoformat(), *models],
            env=env,
        ),
        "score, data down": runner.invoke(cli, ["score", "--data", urls.closed, "--output", store, *models], env=env),
        "score, store down": runner.invoke(
            cli, ["score", "--data", urls.data, "--output", urls.closed, *models], env=env
        ),
        "validate": runner.invoke(
            cli, ["validate", "--data", urls.data, "--report", str(tmp_path / "dq.json")], env=env
        ),
        "validate, data down": runner.invoke(cli, ["validate", "--data", urls.closed], env=env),
    }
    assert results["score"].exit_code == 0, results["score"].output
    assert results["validate"].exit_code == 0, results["validate"].output
    assert "postgres:***@127.0.0.1" in results["validate"].output
    for name in ("score, data down", "score, store down", "validate, data down"):
        assert results[name].exit_code == 2, (name, results[name].output)
        assert "postgres:***@127.0.0.1" in results[name].output, (name, results[name].output)
    out = capsys.readouterr()
    with psycopg.connect(PG) as conn:  # everything the runs left in the store, as text
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (urls.schema,)
            ).fetchall()
        ]
        stored = {
            t: "\n".join(str(r[0]) for r in conn.execute(f'SELECT t::text FROM "{urls.schema}"."{t}" t').fetchall())
            for t in tables
            if t.startswith("scores_cli")
        }
    assert any("***" in text for text in stored.values()), "the run record names its source (masked)"
    _assert_never_shown(
        {
            **{name: r.output for name, r in results.items()},
            **stored,
            "saved summary": (tmp_path / "dq.json").read_text(),
            "log": caplog.text,
            "out": out.out + out.err,
        }
    )
