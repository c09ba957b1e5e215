"""Turn a model reference into a local bundle directory (a path, a registry alias or a version).

The service loads models through this module so it never has to import ``training``: it only reads the
registry. Every churnltv MLflow model is a models-from-code pyfunc whose plain bundle is logged as the artifact
``bundle``, so the bundle of a downloaded model is ``<model>/artifacts/bundle``.

Accepted references:

* a local directory: a plain bundle, or a downloaded MLflow model (holding ``artifacts/bundle``);
* ``models:/<name>@<alias>`` or ``models:/<name>/<version>``;
* ``champion`` / ``challenger`` (or any other bare alias) of ``default_name``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from features.errors import UserInputError
from models.registry_address import DEFAULT_TRACKING_URI

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
_BARE_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def absolute_tracking_uri(uri: str) -> str:
    """Resolve a relative ``sqlite:///path`` against the cwd (and create its folder); other URIs pass through.

    ``sqlite:///mlruns/mlflow.db`` is relative, ``sqlite:////tmp/x.db`` is absolute. Resolving once makes the
    store independent of later ``chdir`` calls and of the process that reads it (CLI vs service).
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return uri
    path = Path(uri[len(prefix) :])
    if not path.is_absolute():
        path = Path.cwd() / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return prefix + str(path.resolve())


def _tracking_uri(explicit: str | None) -> str:
    return absolute_tracking_uri(explicit or os.environ.get("CHURNLTV_TRACKING_URI") or DEFAULT_TRACKING_URI)


def _local_bundle(path: Path) -> Path:
    nested = bundle_in_model_dir(path)
    if nested is not None:
        return nested
    if not (path / "metadata.json").is_file():
        raise UserInputError(
            f"{path} is not a model bundle: it has neither metadata.json nor artifacts/bundle "
            "(pass a bundle directory, models:/<name>@<alias>, or champion/challenger)"
        )
    return path


def resolve_bundle(
    ref: str | Path, *, default_name: str, tracking_uri: str | None = None, dst_dir: str | Path | None = None
) -> Path:
    """Return the local bundle directory that ``ref`` points at, downloading it from the registry if needed.

    ``tracking_uri`` defaults to ``CHURNLTV_TRACKING_URI`` (else ``sqlite:///mlruns/mlflow.db``);
    ``dst_dir`` defaults to a fresh temporary directory that nobody removes (``downloaded_bundle`` removes its
    copy; the service loads through ``service.model_set``, which removes its own). Raises ``UserInputError``
    when the alias or version does not exist, naming the model and how to create it.
    """
    text = str(ref)
    path = Path(text)
    if isinstance(ref, Path) or path.is_dir() or (os.sep in text and not text.startswith("models:/")):
        if not path.is_dir():
            raise UserInputError(f"model bundle directory {path} does not exist")
        return _local_bundle(path)
    match = _MODELS_URI.match(text)
    if match:
        name, alias, version = match.group("name"), match.group("alias"), match.group("version")
    elif _BARE_ALIAS.match(text):
        name, alias, version = default_name, text, None
    else:
        raise UserInputError(
            f"cannot understand model reference {text!r}: use a bundle directory, models:/<name>@<alias>, "
            "models:/<name>/<version>, or an alias such as champion"
        )

    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = _tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        if alias is not None:
            mv = client.get_model_version_by_alias(name, alias)
        else:
            mv = client.get_model_version(name, str(version))
    except MlflowException:
        what = f"alias {alias!r}" if alias is not None else f"version {version}"
        hint = "run churnltv promote" if alias == "champion" else "train a model first"
        raise UserInputError(f"no version of {name} has {what}; {hint} (registry: {uri})") from None

    target = Path(dst_dir) if dst_dir is not None else Path(tempfile.mkdtemp(prefix=f"{name}-v{mv.version}-"))
    target.mkdir(parents=True, exist_ok=True)
    # MLflow draws a tqdm progress bar on stderr for every download when tqdm is importable: a served reload (one a
    # second under load) must not write terminal animation into the service's log or block on a full stderr pipe.
    # An explicit MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=true from the user still wins.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{mv.version}", dst_path=str(target))
    finally:
        mlflow.set_tracking_uri(previous)
    bundle = bundle_in_model_dir(Path(local))
    if bundle is None:
        raise UserInputError(f"{name} version {mv.version} has no 'bundle' artifact; it was not logged by churnltv")
    return bundle


@contextmanager
def downloaded_bundle(ref: str | Path, *, default_name: str, tracking_uri: str | None = None) -> Iterator[Path]:
    """``resolve_bundle`` into a temporary directory that is removed on exit (a local bundle is used in place).

    For callers that load the bundle into memory inside the block: ``resolve_bundle``'s own default directory is
    never removed, one ``/tmp`` copy per call.
    """
    with tempfile.TemporaryDirectory(prefix="churnltv-bundle-") as tmp:
        yield resolve_bundle(ref, default_name=default_name, tracking_uri=tracking_uri, dst_dir=Path(tmp) / "model")


def bundle_in_model_dir(model_dir: Path) -> Path | None:
    """The directory of the pyfunc artifact named ``bundle`` inside a downloaded MLflow model.

    MLflow stores an artifact directory under its own base name (``artifacts/<dirname>``), so the path is read
    from the model's MLmodel file; ``artifacts/bundle`` is the layout churnltv jobs produce.
    """
    if (model_dir / "MLmodel").is_file():
        from mlflow.models import Model

        flavor = Model.load(str(model_dir)).flavors.get("python_function", {})
        relative = ((flavor.get("artifacts") or {}).get("bundle") or {}).get("path")
        if isinstance(relative, str) and (model_dir / relative).is_dir():
            return model_dir / relative
    nested = model_dir / "artifacts" / "bundle"
    return nested if nested.is_dir() else None
