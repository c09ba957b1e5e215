"""Logged pyfunc models load without this checkout: ``code_paths`` carry ``features``/``models`` and the pinned
requirements cover every third-party distribution that loading and predicting imports.

The "fresh environment" is a subprocess of the same interpreter with the checkout hidden: the editable install's
import finder and the repository path are removed before anything is imported, and the test checks that
``import models`` fails there before the model is loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from packaging.requirements import Requirement

from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.churn_bundle import ChurnBundle
from models.churn_classifier import ChurnClassifier
from models.probability_calibration import ProbabilityCalibration
from training.model_requirements import REPO_ROOT, import_closure
from training.settings import TrainingSettings
from training.tracking import experiment_id, log_bundle_model, use_tracking

pytestmark = pytest.mark.slow  # MLflow logging and a subprocess that imports mlflow (~5 s each)

ISOLATED = r"""
import json, sys
repo, model_dir, frame_json, blocked_json = sys.argv[1:5]
blocked = set(json.loads(blocked_json))
# hide the checkout: the editable install's finder/path hook, and the repository on sys.path
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in str(getattr(f, "__module__", ""))]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in str(getattr(h, "__module__", ""))]
sys.path[:] = [p for p in sys.path if p not in ("", ".", repo) and "__editable__" not in p]
sys.path_importer_cache.clear()


class NotInstalled:
    # a fresh environment has only requirements.txt and what it pulls in: every other distribution is absent
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the model's requirements)", name=name)
        return None


sys.meta_path.insert(0, NotInstalled)
def importable(name):
    try:
        __import__(name)
        return True
    except ModuleNotFoundError:
        return False
hidden = not importable("models") and not importable("features")
duckdb_blocked = not importable("duckdb")
import pandas as pd
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(model_dir)
out = model.predict(pd.DataFrame(json.loads(frame_json)))  # json floats round-trip exactly
print(json.dumps({
    "hidden": hidden,
    "duckdb_blocked": duckdb_blocked,
    "prediction": {c: out[c].tolist() for c in out.columns},
    "models_file": sys.modules["models"].__file__,
    "features_file": sys.modules["features"].__file__,
}))
"""


def _closure_of(requirements: list[str]) -> set[str]:
    """Normalised names of the required distributions and, recursively, everything they require."""
    from importlib.metadata import PackageNotFoundError, requires

    def norm(name: str) -> str:
        return name.replace("_", "-").replace(".", "-").lower()

    todo = [Requirement(r).name for r in requirements]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if norm(name) in seen:
            continue
        seen.add(norm(name))
        try:
            deps = requires(name) or []
        except PackageNotFoundError:
            continue
        for dep in deps:
            req = Requirement(dep)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _not_required(model_dir: Path) -> list[str]:
    """Installed top-level modules whose distributions neither requirements.txt nor its dependencies name."""
    from importlib.metadata import packages_distributions

    requirements = [line.strip() for line in (model_dir / "requirements.txt").read_text().splitlines() if line.strip()]
    assert requirements
    assert all("==" in r for r in requirements), requirements  # pinned
    allowed = _closure_of(requirements)
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if module not in sys.stdlib_module_names
        and module not in ("features", "models")  # these must come from the model's code/ directory
        and not any(d.replace("_", "-").replace(".", "-").lower() in allowed for d in dists)
    )


def _run_isolated(model_dir: Path, frame: pd.DataFrame, cwd: Path) -> dict[str, object]:
    blocked = json.dumps(_not_required(model_dir))
    rows = json.dumps({c: frame[c].tolist() for c in frame.columns})
    args = [str(REPO_ROOT), str(model_dir), rows, blocked]
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", ISOLATED, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _log_and_fetch(python_model: Path, bundle_dir: Path, tmp_path: Path) -> Path:
    settings = TrainingSettings()
    use_tracking(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings.churn_experiment, settings)):
        info = log_bundle_model(python_model, bundle_dir)
    return Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "downloaded")))


def _check_layout(model_dir: Path) -> None:
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["code"] == "code"
    assert (model_dir / "code" / "features" / "__init__.py").is_file()
    assert (model_dir / "code" / "models" / "__init__.py").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))


def _check_loaded(model_dir: Path, result: dict[str, object]) -> None:
    assert result["hidden"] is True  # the subprocess really could not import the checkout
    assert result["duckdb_blocked"] is True  # nor a distribution outside the model's requirements
    for key in ("models_file", "features_file"):
        assert str(result[key]).startswith(str(model_dir / "code")), result[key]


def test_churn_pyfunc_loads_and_predicts_without_the_checkout(tmp_path: Path) -> None:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    spec = FeatureSpec(
        features=[catalog[n] for n in ("days_since_last_event", "events_30d", "segment")],
        settings={"n_core_modules": 6},
    )
    rng = np.random.default_rng(4)
    n = 1200
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "days_since_last_event": rng.exponential(10, n),
            "events_30d": rng.poisson(15, n),
            "segment": pd.Categorical(rng.choice(["b2b", "b2c"], n), categories=["b2b", "b2c"]),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + 0.12 * frame["days_since_last_event"])))).astype(int)
    clf = ChurnClassifier(spec, num_threads=1, max_rounds=40, min_data_in_leaf=20).fit(frame, y)
    raw = clf.predict_proba(frame)[:, 1]
    bundle = ChurnBundle.from_classifier(clf, ProbabilityCalibration().fit(raw, y), {"horizon_days": 30})
    bundle_dir = bundle.save(tmp_path / "bundle")

    model_dir = _log_and_fetch(REPO_ROOT / "models" / "churn_pyfunc.py", bundle_dir, tmp_path)
    sample = frame.head(50).assign(segment=lambda f: f["segment"].astype(str))
    _check_layout(model_dir)
    result = _run_isolated(model_dir, sample, tmp_path)
    _check_loaded(model_dir, result)
    out = pd.DataFrame(result["prediction"])
    np.testing.assert_allclose(out["churn_probability"].to_numpy(), bundle.predict_proba(sample), rtol=0, atol=1e-12)
    requirements = (model_dir / "requirements.txt").read_text()
    for dist in ("lightgbm==", "scikit-learn==", "numpy==", "pandas==", "mlflow=="):
        assert dist in requirements


def test_ltv_wrapper_logged_through_the_shared_helper_loads_too(tmp_path: Path) -> None:
    from churnltv.generator import generate
    from features.dataset_writer import write_dataset
    from models.customer_value import LtvPredictor
    from models.ltv_settings import LtvSettings
    from training.ltv_job import train_ltv

    base = generate(1500, seed=31)
    data = write_dataset({k: base.tables[k] for k in ("customers", "events", "transactions")}, tmp_path / "b.duckdb")
    trained = train_ltv(
        str(data),
        as_of=None,
        holdout_days=None,
        settings=LtvSettings(penalizer_coef=0.001, n_parameter_draws=50),
        training_settings=TrainingSettings(),
    )
    model_dir = _log_and_fetch(REPO_ROOT / "models" / "ltv_pyfunc.py", trained.bundle_dir, tmp_path)
    sample = pd.DataFrame(
        {"customer_id": ["a", "b"], "frequency": [2, 0], "recency": [30.4, 0.0], "T": [38.9, 12.0]}
    ).assign(monetary_value=[22.35, np.nan])
    _check_layout(model_dir)
    result = _run_isolated(model_dir, sample, tmp_path)
    _check_loaded(model_dir, result)
    out = pd.DataFrame(result["prediction"])
    expected = LtvPredictor.from_bundle(trained.bundle_dir).predict(
        sample["frequency"], sample["recency"], sample["T"], sample["monetary_value"]
    )
    np.testing.assert_allclose(out["predicted_ltv"].to_numpy(), np.asarray(expected["predicted_ltv"]), rtol=1e-9)


def test_import_closure_follows_lazy_imports_and_skips_type_checking(tmp_path: Path) -> None:
    entry = tmp_path / "wrapper.py"
    entry.write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import mlflow\n"
        "if TYPE_CHECKING:\n"
        "    import matplotlib\n"
        "    from service.api.app import create_app\n"
        "def load():\n"
        "    from models.churn_bundle import ChurnBundle\n"
        "    return ChurnBundle\n"
    )
    closure = import_closure(entry)
    assert closure.packages == ("features", "models")
    assert "lightgbm" in closure.third_party  # models.churn_bundle imports it inside a function
    assert "sklearn" in closure.third_party
    assert "matplotlib" not in closure.third_party
    assert "service" not in closure.packages
