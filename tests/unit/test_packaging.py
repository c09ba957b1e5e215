"""The Docker image and the local install get exactly the pinned dependency set and the same entry point.

The test machines have no Docker engine, so this checks the Dockerfile's instructions and the lock
file instead of building the image (the build itself is exercised with tools/docker-here, see README).
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
