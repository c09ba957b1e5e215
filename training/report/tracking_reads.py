"""Read-only access to the MLflow registry and runs for the report: the champion, its run's artifacts.

The report only reads: it points MLflow at the given store for the duration of a block and restores the previous
URIs, and it never opens a sqlite store that does not exist (MLflow would create it just to answer "no model").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from training.report.page import markup

if TYPE_CHECKING:
    from training.registry import ModelVersionInfo

logger = logging.getLogger(__name__)


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """Point MLflow at ``uri`` for the block and restore the previous URIs (the report is read-only)."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def registry_is_empty(uri: str) -> bool:
    """True when ``uri`` is a sqlite store whose file does not exist: nothing was ever registered there.

    Checked before asking MLflow, which would create the database (and run its migrations, ~10 s) just to
    answer "no such model"; the report only reads.
    """
    prefix = "sqlite:///"
    return uri.startswith(prefix) and not Path(uri[len(prefix) :]).is_file()


def model_version(name: str) -> tuple[ModelVersionInfo | None, Markup]:
    """The champion of ``name`` (or, with a note, the challenger when nothing was promoted yet)."""
    from training import registry

    info = registry.get_version(name, registry.CHAMPION)
    if info is not None:
        return info, markup("{} version {} (champion)", name, info.version)
    info = registry.get_version(name, registry.CHALLENGER)
    if info is not None:
        return info, markup(
            "{} version {} (challenger: no version has been promoted to champion yet, run "
            "<code>churnltv promote</code>)",
            name,
            info.version,
        )
    return None, Markup("")


def run_artifacts(run_id: str, path: str, dst: Path) -> Path | None:
    """Download one artifact (file or folder) of a run; None when the run or the artifact is gone."""
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    except Exception as err:  # MlflowException, OSError: the artifact store moved or the run was deleted
        logger.info("artifact %s of run %s not available: %s", path, run_id, err)
        return None
    return Path(local)
