"""The Docker image and the local install get exactly the pinned dependency set and the same entry point.

The test machines have no Docker engine, so this checks the Dockerfile's instructions, the lock file (it must pin
the whole runtime closure, or the image's install could float) and the compose file instead of building the image.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_every_direct_dependency_is_pinned_and_matches_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    unpinned = [d for d in declared if "==" not in d]
    assert not unpinned, f"unpinned dependencies: {unpinned}"
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    for name, version in _pins(declared).items():
        assert lock.get(name) == version, f"{name}: pyproject pins {version}, requirements.lock has {lock.get(name)}"


def test_dockerfile_installs_the_locked_set_and_runs_the_cli_entry_point() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    install = re.search(r"pip install (.+?) \.(\s|$)", text)
    assert install is not None
    assert "-c requirements.lock" in install.group(1)
    assert 'ENTRYPOINT ["churnltv"]' in text
    # found by running the image: LightGBM cannot load a model without OpenMP, which slim images lack
    assert "libgomp1" in text
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"churnltv": "churnltv.cli:main"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    copied = re.search(r"^COPY pyproject.toml (.+) \./$", text, re.M)
    assert copied is not None
    for needed in [project["readme"], *project["license-files"]]:
        assert needed in copied.group(1).split(), f"pip install . needs {needed}, which the image does not copy"
    for package in ("churnltv", "features", "models", "training", "service"):
        assert f"COPY {package} ./{package}" in text, f"the image lacks the {package} package"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme
    assert "make demo" in readme


def _runtime_closure() -> dict[str, str]:
    """Every distribution the installed churnltv needs at run time (no extras), with its installed version."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [("churnltv", frozenset())]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            env_extras = extras or frozenset({""})
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in env_extras):
                continue
            key = canonicalize_name(req.name)
            if key in seen:
                continue
            seen[key] = metadata.version(req.name)
            todo.append((req.name, frozenset(req.extras)))
    return seen


def test_the_lock_pins_every_runtime_dependency_at_the_installed_version() -> None:
    # The image runs `pip install -c requirements.lock .`: a package missing from the lock would float to whatever
    # PyPI serves on build day. The whole transitive closure of the runtime dependencies must be locked.
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    closure = _runtime_closure()
    assert len(closure) > 50  # mlflow alone brings dozens: an empty walk would prove nothing
    missing = sorted(name for name in closure if name not in lock)
    assert not missing, f"runtime dependencies not in requirements.lock: {missing}"
    drift = {n: (v, lock[n]) for n, v in closure.items() if lock[n] != v}
    assert not drift, f"installed vs locked versions differ (run `make lock`): {drift}"


def test_compose_file_runs_the_image_against_mounted_models_and_data_with_postgres_and_the_mlflow_ui() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"api", "postgres", "mlflow"}
    api = services["api"]
    assert api["build"] == "."
    assert any(v.startswith("./mlruns:") for v in api["volumes"])
    assert any(v.startswith("./data:") for v in api["volumes"])
    assert api["environment"]["CHURNLTV_API_KEYS"]
    assert services["mlflow"]["image"] == api["image"], "the MLflow UI runs from the same pinned image"
    assert services["postgres"]["image"].startswith("postgres:")
