"""The report renders in a real browser: headless Chromium loads it, every section is there, every image decodes.

Chromium is Debian's ``chromium`` package. The session fixture installs it with apt-get when it is missing
(skipping only when the install fails because there is no network). No Python browser driver is used: the
browser is run as a command (``--dump-dom``, ``--screenshot``). The screenshot is kept in
``test-artifacts/report.png`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import build_trained_world  # the shared world of tests/conftest.py
from training.report import SECTION_IDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NO_NETWORK = (
    "Temporary failure resolving",
    "Could not resolve",
    "Network is unreachable",
    "Failed to fetch",
    "Connection timed out",
    "No route to host",
)

# Appended to a copy of the report (the report itself has no script): after load, write one line per <img>
# with its decoded size into the DOM, where --dump-dom can read it.
IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = Array.prototype.map.call(document.images, function (img) {
    var section = img.closest("section");
    return (section ? section.id : "-") + " " + img.complete + " " + img.naturalWidth + "x" + img.naturalHeight +
      " " + img.src.length;
  }).join("\\n");
  document.body.appendChild(out);
});
</script>"""


def _run(cmd: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing; skip only when the install has no network."""
    if CHROMIUM.is_file():
        return CHROMIUM
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"])
    for cmd in steps:
        result = _run(cmd)
        if result.returncode != 0:
            output = result.stdout[-2000:] + result.stderr[-2000:]
            if any(marker in output for marker in NO_NETWORK):
                reason = f"cannot install chromium, no network: `{' '.join(cmd)}` said: {output.strip()[-300:]}"
                print(reason)
                pytest.skip(reason)
            pytest.fail(f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n{output}")
    assert CHROMIUM.is_file(), "apt-get installed chromium but /usr/bin/chromium is missing"
    return CHROMIUM


def _headless(chromium: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args]
    return _run(cmd, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trained_world(tmp_path_factory.getbasetemp()).report


def test_report_renders_every_section_and_image_in_chromium(chromium: Path, report: Path, tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8")
    probe = tmp_path / "report_probe.html"
    probe.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"), encoding="utf-8")
    result = _headless(chromium, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for section_id in SECTION_IDS:
        assert f'id="{section_id}"' in dom, f"section {section_id} missing from the rendered DOM"
    match = re.search(r'<pre id="image-check">(.*?)</pre>', dom, flags=re.S)
    assert match is not None, "the image check did not run (no load event?)"
    lines = [line.split() for line in match.group(1).strip().splitlines()]
    assert len(lines) == page.count("<img "), "every <img> of the report must be in the rendered page"
    assert len(lines) >= 12  # 4 churn, 2 BTYD, 1 each: LTV, tiers, health, lifecycle, NPS, acquisition
    for section_id, complete, size, src_length in lines:
        width, height = (int(v) for v in size.split("x"))
        assert complete == "true", f"image in {section_id} did not load"
        assert min(width, height) > 100, f"image in {section_id} did not decode to a real plot: {size}"
        assert int(src_length) > 2000, f"image in {section_id} has (almost) no data"
    rendered = {line[0] for line in lines}
    assert {"churn-model", "btyd", "ltv-distribution", "health-retention", "nps", "acquisition"} <= rendered


def test_report_screenshot_is_not_blank(chromium: Path, report: Path) -> None:
    import matplotlib.image

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = _headless(chromium, f"--screenshot={shot}", "--window-size=1280,6000", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file(), "no screenshot was written"
    assert shot.stat().st_size > 50_000, "the screenshot is tiny"
    pixels = np.asarray(matplotlib.image.imread(shot))[..., :3]
    assert pixels.shape[:2] == (6000, 1280)
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 1000, f"screenshot looks blank ({len(colours)} distinct colours)"
    assert float(pixels.std()) > 0.05
    shutil.copy(report, ARTIFACTS / "report.html")
