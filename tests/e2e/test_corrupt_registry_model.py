"""A registered churn model whose ``model.txt`` is damaged on disk: refused with a message, never a process abort.

One garbled ``leaf_value=`` line used to make LightGBM call ``std::terminate`` (issue 19 item 1): the server died
on ``/admin/reload`` and at start, ``churnltv score`` exited 134. Here the world's champions are registered in a
registry of this module's own (the session world's files stay intact), the file is damaged while a server serves
them, and:

* ``POST /admin/reload`` answers 409 naming the registry version (``models:/churnltv-churn/1``), not the temporary
  copy; the old model keeps serving the same predictions; after the file is restored a reload works again;
* a fresh server on the damaged registry stays up, ``/ready`` says 503 and why;
* ``churnltv score`` exits 2 naming it.

Every reload, good or refused, leaves no ``churnltv-*`` directory behind in the server's private TMPDIR (item 5).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from support.server import KEY, SERVER_CMD, features_of, free_port, start_server
from support.world import TrainedWorld

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

DAMAGE = "models:/churnltv-churn/1/model.txt is damaged (tree 0, leaf_value)"
LAUNCH = "from churnltv.cli import app\napp(prog_name='churnltv')\n"


@dataclass(frozen=True)
class Registry:
    uri: str
    model_txt: Path
    """The registered churn model's ``model.txt`` (inside the registry's artifact store)."""
    tmpdir: Path
    """The TMPDIR of every process started against this registry."""

    @property
    def env(self) -> dict[str, str]:
        return {
            "CHURNLTV_TRACKING_URI": self.uri,
            "MLFLOW_TRACKING_URI": self.uri,
            "CHURNLTV_CHURN_MODEL": "champion",
            "CHURNLTV_LTV_MODEL": "champion",
            "TMPDIR": str(self.tmpdir),
        }

    @contextmanager
    def damaged(self) -> Iterator[None]:
        """The registered model.txt with its first ``leaf_value=`` line garbled, restored afterwards."""
        good = self.model_txt.read_bytes()
        self.model_txt.write_bytes(good.replace(b"\nleaf_value=", b"\nleaf_value=x", 1))
        try:
            yield
        finally:
            self.model_txt.write_bytes(good)

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.tmpdir.glob("churnltv-*"))


@pytest.fixture(scope="module")
def registry(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The world's two champions registered as version 1 (alias champion) of a registry of this module's own."""
    import mlflow

    from training import registry as models_registry
    from training.settings import TrainingSettings
    from training.tracking import experiment_id, log_bundle_model, use_tracking

    root = tmp_path_factory.mktemp("corrupt_registry")
    settings = TrainingSettings(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))
    use_tracking(settings)
    try:
        for name, wrapper, bundle, experiment in (
            (models_registry.CHURN_MODEL, "churn_pyfunc.py", trained_world.churn_bundle, settings.churn_experiment),
            (models_registry.LTV_MODEL, "ltv_pyfunc.py", trained_world.ltv_bundle, settings.ltv_experiment),
        ):
            with mlflow.start_run(experiment_id=experiment_id(experiment, settings)):
                info = log_bundle_model(REPO / "models" / wrapper, bundle)
            models_registry.register(info.model_uri, name, alias="champion")
    finally:
        use_tracking(TrainingSettings())  # back to the session store
    (model_txt,) = (root / "artifacts").rglob("model.txt")  # only the churn bundle has one
    tmpdir = root / "tmp"
    tmpdir.mkdir()
    return Registry(settings.tracking_uri, model_txt, tmpdir)


@pytest.fixture(scope="module")
def server(trained_world: TrainedWorld, registry: Registry) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    url, proc = start_server(trained_world, registry.env)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def body(trained_world: TrainedWorld) -> dict[str, object]:
    from service.score_store import open_score_store

    row = open_score_store(str(trained_world.scores)).read_scores().iloc[7]
    return {"customers": [features_of(trained_world, row["customer_id"], pd.Timestamp(row["as_of"]))]}


def _predict(client: httpx.Client, body: dict[str, object]) -> float:
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200, response.text
    return float(response.json()["predictions"][0]["churn_probability"])


def test_reload_of_a_damaged_version_is_refused_and_the_old_model_keeps_serving(
    server: tuple[str, subprocess.Popen[bytes]], registry: Registry, body: dict[str, object]
) -> None:
    url, proc = server
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as client:
        before = _predict(client, body)
        with registry.damaged():
            refused = client.post("/admin/reload")
            assert proc.poll() is None, "the server died on the reload"
            assert refused.status_code == 409, refused.text
            detail = refused.json()["detail"]
            assert detail.startswith("reload failed, still serving the previous models: " + DAMAGE), detail
            assert str(registry.tmpdir) not in detail
            assert client.get("/ready").status_code == 200
            assert _predict(client, body) == before
        restored = client.post("/admin/reload")
        assert restored.status_code == 200, restored.text
        assert _predict(client, body) == before
    assert registry.leftovers() == []


def test_reloads_leave_no_temporary_copies(server: tuple[str, subprocess.Popen[bytes]], registry: Registry) -> None:
    url, _ = server
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as client:
        for _ in range(5):
            assert client.post("/admin/reload").status_code == 200
        with registry.damaged():
            assert client.post("/admin/reload").status_code == 409
    assert registry.leftovers() == []


def test_a_fresh_server_on_a_damaged_registry_stays_up_but_not_ready(
    trained_world: TrainedWorld, registry: Registry
) -> None:
    port = free_port()
    env = {**os.environ, "CHURNLTV_API_KEYS": KEY, **trained_world.env, **registry.env}
    with registry.damaged():
        proc = subprocess.Popen(
            [*SERVER_CMD, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            ready = None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
                    break
                except httpx.TransportError:
                    time.sleep(0.3)
            assert proc.poll() is None, f"the server exited with {proc.returncode}"
            assert ready is not None
            assert ready.status_code == 503
            assert ready.json()["checks"]["models"].startswith("not loaded: " + DAMAGE), ready.text
            assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert registry.leftovers() == []


def test_serve_on_a_damaged_registry_refuses_to_start_naming_it(
    trained_world: TrainedWorld, registry: Registry
) -> None:
    """`churnltv serve` checks the models before uvicorn starts: a damaged one is exit 2 naming the registry file
    (a server started by uvicorn directly stays up not ready, above)."""
    env = {**os.environ, "CHURNLTV_API_KEYS": KEY, **trained_world.env, **registry.env}
    cmd = [sys.executable, "-c", LAUNCH, "serve", "--port", str(free_port())]
    with registry.damaged():
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert DAMAGE in done.stderr
    assert "Traceback" not in done.stderr
    assert registry.leftovers() == []


def test_score_with_a_damaged_champion_exits_2_naming_it(
    trained_world: TrainedWorld, registry: Registry, tmp_path: Path
) -> None:
    cmd = [sys.executable, "-c", LAUNCH, "score", "--data", str(trained_world.data), "--as-of", "2026-06-01"]
    cmd += ["--output", str(tmp_path / "scores")]
    with registry.damaged():
        done = subprocess.run(
            cmd, env={**os.environ, **registry.env}, capture_output=True, text=True, timeout=300, check=False
        )
    assert done.returncode == 2, done.stderr[-2000:]
    assert DAMAGE in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "scores" / "LATEST").exists()
    assert registry.leftovers() == []


def test_a_batch_load_keeps_its_download_only_as_long_as_the_models(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_files=True (batch scoring: workers read the files) keeps one download with the set; it goes with it."""
    import gc
    import tempfile

    from features.errors import UserInputError
    from service.model_set import load_model_set

    private = registry.tmpdir / "batch"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    kept = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=registry.uri)
    (download,) = private.glob("churnltv-load-*")
    assert kept.churn_info.files().is_relative_to(download)
    assert (kept.churn_info.files() / "model.txt").is_file()
    del kept
    gc.collect()
    assert list(private.iterdir()) == []
    served = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=registry.uri, keep_files=False)
    assert list(private.iterdir()) == []
    assert served.churn_info.path is None
    with pytest.raises(UserInputError, match="were removed after loading"):
        served.churn_info.files()


def test_the_doc_shows_these_messages() -> None:
    """docs/BAD_INPUTS.md lists the three registry cases with the message the tests above assert."""
    rows = {
        line.split(" | ")[0].strip("| `"): line
        for line in (REPO / "docs" / "BAD_INPUTS.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for case, status in (
        ("score_damaged_registry_model", "2"),
        ("serve_damaged_registry_model", "2"),
        ("api_reload_damaged_registry_model", "409"),
        ("api_start_damaged_registry_model", "503"),
    ):
        assert DAMAGE in rows[case], case
        assert rows[case].rstrip(" |").endswith(status), case
