"""Point MLflow at the churnltv tracking store and make sure the experiments exist.

Every job calls ``use_tracking(settings)`` before logging. A relative sqlite URI is resolved against the cwd
once, and each experiment keeps its artifacts under ``artifact_root/<experiment>`` so the whole store can be
copied as one folder.

``log_bundle_model`` is the one way a job logs a plain bundle as an MLflow pyfunc (models-from-code, no
cloudpickle): with the first-party packages the wrapper imports as ``code_paths`` and pinned requirements of what
they import, so ``mlflow.pyfunc.load_model`` / ``mlflow models serve`` work in an environment without churnltv.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from models.bundle_source import absolute_tracking_uri
from training.settings import TrainingSettings


def _artifact_location(settings: TrainingSettings, name: str) -> str:
    root = settings.artifact_root
    if "://" in root:
        return root.rstrip("/") + "/" + name
    path = Path(root)
    if not path.is_absolute():
        path = Path.cwd() / path
    path = (path / name).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def use_tracking(settings: TrainingSettings) -> None:
    """Set MLflow's tracking and registry URI from the settings and create both experiments if missing."""
    import mlflow

    uri = absolute_tracking_uri(settings.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name in (settings.churn_experiment, settings.ltv_experiment, settings.uplift_experiment):
        experiment_id(name, settings)


def experiment_id(name: str, settings: TrainingSettings) -> str:
    """The id of experiment ``name`` in the configured store, created with its artifact location if missing."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = absolute_tracking_uri(settings.tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=_artifact_location(settings, name)))
    except mlflow.exceptions.MlflowException:
        # another process created it between our lookup and create
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def log_bundle_model(python_model: Path, bundle_dir: Path, *, name: str = "model") -> Any:
    """Log ``bundle_dir`` with the pyfunc wrapper file ``python_model`` in the active run; returns MLflow's ModelInfo.

    ``code_paths`` are the first-party packages reachable from the wrapper's imports (``features``, ``models``),
    copied into the model's ``code/`` directory, which MLflow puts on ``sys.path`` at load time; the pip
    requirements pin every third-party distribution those imports name (``training.model_requirements``).
    """
    import mlflow

    from training.model_requirements import REPO_ROOT, import_closure, pinned_requirements

    closure = import_closure(Path(python_model))
    # the wrappers take a pandas frame on purpose (no type-hint signature) and MLflow 3 prints three coloured
    # UserWarnings per model about it, which every `churnltv train` user reads as a problem. log_model resets the
    # warning filters itself (simplefilter "once"), so the warnings are recorded here and all others re-issued.
    with warnings.catch_warnings(record=True) as caught:
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(python_model),
            artifacts={"bundle": str(bundle_dir)},
            code_paths=[str(REPO_ROOT / package) for package in closure.packages],
            pip_requirements=pinned_requirements(closure.third_party),
        )
    for w in caught:
        if not (issubclass(w.category, UserWarning) and _TYPE_HINT_NOISE.search(str(w.message))):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return info


_TYPE_HINT_NOISE = re.compile(
    r"Add type hints to the|Type hint used in the model|Failed to infer signature from type h"
)
