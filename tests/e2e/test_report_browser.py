"""The report renders in a real browser: headless Chromium loads it, every section is there, every image decodes.

Chromium and its WebDriver are Debian's ``chromium`` and ``chromium-driver`` packages (issue 6). The session
fixture installs both with apt-get when either is missing. It skips only when apt-get itself fails because
Debian's mirror cannot be reached (the reason, with apt's own words, is printed and shown in pytest's summary);
any other failure (a missing package, no permission, a broken install) fails the test, so CI never passes
silently without a browser. No Python browser library is used: the browser runs as a command (``--dump-dom``,
``--screenshot``) and ``chromedriver`` is spoken to over W3C WebDriver on loopback. The screenshot is kept in
``test-artifacts/report.png`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.world import build_trained_world
from training.report.builder import SECTION_IDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
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
def browser_packages() -> tuple[Path, Path]:
    """Debian's chromium and chromium-driver, installed with apt-get when missing.

    Skips (loudly) only when apt-get cannot reach the mirror; every other failure fails.
    """
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return CHROMIUM, CHROMEDRIVER
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES])
    for cmd in steps:
        result = _run(cmd)
        output = result.stdout[-2000:] + result.stderr[-2000:]
        if result.returncode != 0:
            if any(marker in output for marker in NO_NETWORK):
                reason = (
                    f"SKIPPED BROWSER TEST: cannot install {' and '.join(PACKAGES)}: Debian's mirror is unreachable; "
                    f"`{' '.join(cmd)}` said: {output.strip()[-300:]}"
                )
                print(reason, file=sys.stderr)
                pytest.skip(reason)
            pytest.fail(f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n{output}")
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    assert not missing, f"apt-get installed {' '.join(PACKAGES)} but {', '.join(missing)} is missing"
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def chromium(browser_packages: tuple[Path, Path]) -> Path:
    return browser_packages[0]


@pytest.fixture(scope="session")
def chromedriver(browser_packages: tuple[Path, Path]) -> Path:
    return browser_packages[1]


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
    assert len(lines) >= 13  # 4 churn, 2 BTYD, 1 each: LTV, tiers, health, lifecycle, NPS, acquisition, B2B
    for section_id, complete, size, src_length in lines:
        width, height = (int(v) for v in size.split("x"))
        assert complete == "true", f"image in {section_id} did not load"
        assert min(width, height) > 100, f"image in {section_id} did not decode to a real plot: {size}"
        assert int(src_length) > 2000, f"image in {section_id} has (almost) no data"
    rendered = {line[0] for line in lines}
    expected = {"churn-model", "btyd", "ltv-distribution", "risk-tiers", "health-retention", "lifecycle", "nps"}
    assert expected | {"acquisition", "b2b-accounts"} <= rendered


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


def _webdriver(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One W3C WebDriver call to the local chromedriver; returns the response's ``value``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["value"]


SECTION_PROBE = """
return Array.from(document.querySelectorAll("main > section")).map(function (s) {
  var images = Array.from(s.querySelectorAll("img"));
  return [s.id, s.getBoundingClientRect().height, images.length,
          images.every(function (i) { return i.complete && i.naturalWidth > 100; })];
});
"""


def test_chromedriver_sees_every_section_in_order(chromium: Path, chromedriver: Path, report: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver = subprocess.Popen(
        [str(chromedriver), f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _webdriver(port, "GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chromedriver did not become ready within 30 s"
            time.sleep(0.2)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2000"]
        options = {"binary": str(chromium), "args": flags}
        session = _webdriver(
            port, "POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
        )
        sid = session["sessionId"]
        try:
            _webdriver(port, "POST", f"/session/{sid}/url", {"url": report.as_uri()})
            assert _webdriver(port, "GET", f"/session/{sid}/title") == "churnltv report"
            rows = _webdriver(port, "POST", f"/session/{sid}/execute/sync", {"script": SECTION_PROBE, "args": []})
        finally:
            _webdriver(port, "DELETE", f"/session/{sid}")
    finally:
        driver.terminate()
        driver.wait(timeout=30)
    assert [r[0] for r in rows] == list(SECTION_IDS), "sections missing or out of order"
    for section_id, height, _, decoded in rows:
        assert height > 50, f"section {section_id} is not laid out ({height} px)"
        assert decoded, f"an image of {section_id} did not decode"
    assert sum(r[2] for r in rows) >= 13
