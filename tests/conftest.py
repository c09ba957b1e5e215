"""Shared test fixtures (helpers and the session world itself live in tests/support/).

Tests never write into the repository's own mlruns/: every test session gets a
temporary MLflow tracking store, set through the same environment variables a user
would set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.world import TrainedWorld, build_trained_world

# LightGBM's OpenMP threads busy-wait by default, which starves the other core on 2-core CI machines.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True, scope="session")
def _isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("mlruns")
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "CHURNLTV_TRACKING_URI", "CHURNLTV_ARTIFACT_ROOT")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    os.environ["CHURNLTV_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    os.environ["CHURNLTV_ARTIFACT_ROOT"] = str(root / "artifacts")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _restore_package_loggers() -> Iterator[None]:
    """CLI commands run in-process (CliRunner) route package logs through rich and stop their propagation, which
    would hide them from later tests' ``caplog``; put each package logger back as it was after every test."""
    import logging

    names = ("training", "features", "models", "service", "churnltv")
    saved = {n: (logging.getLogger(n).propagate, list(logging.getLogger(n).handlers), logging.getLogger(n).level)
             for n in names}  # fmt: skip
    yield
    for name, (propagate, handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.propagate = propagate
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    """The one trained world of the session (tests/support/world.py)."""
    return build_trained_world(tmp_path_factory.getbasetemp())
