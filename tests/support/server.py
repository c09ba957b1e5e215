"""The real prediction server for tests: uvicorn in factory mode, as `churnltv serve` runs it, on a free port.

Also what the server tests send and read: a customer's live features as a request body, and one sample of the
Prometheus text exposition.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pandas as pd

from features.settings import FeatureSettings
from support.world import TrainedWorld

KEY = "test-key"
"""The API key every test server accepts (``other-key`` too)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MAX_BODY_BYTES = 200_000  # small, so the 413 tests need no huge bodies
SERVER_CMD = [sys.executable, "-m", "uvicorn", "--factory", "service.api.app:create_app", "--host", "127.0.0.1"]


def start_server(world: TrainedWorld, extra_env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "CHURNLTV_API_KEYS": f"{KEY},other-key",
        "CHURNLTV_DATA": str(world.data),
        "CHURNLTV_SCORE_STORE": str(world.scores),
        "CHURNLTV_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        **world.env,
        **(extra_env or {}),
    }
    cmd = [*SERVER_CMD, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return url, proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not become ready")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition (0 when the series does not exist yet)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    return 0.0


def model_feature_settings(world: TrainedWorld) -> FeatureSettings:
    """The feature settings the world's churn champion recorded (its learned event vocabulary included): what a CRM
    integrating with this model builds its /v1/predict features with."""
    from features.feature_spec import FeatureSpec

    spec = FeatureSpec.from_json((world.churn_bundle / "feature_spec.json").read_text(encoding="utf-8"))
    return FeatureSettings.from_recorded(spec.settings)


def features_of(world: TrainedWorld, customer_id: str, as_of: pd.Timestamp) -> dict[str, object]:
    from features.point_in_time import build_features
    from features.sources import open_source

    con = open_source(world.data).connect(validate=False)
    frame, _spec = build_features(con, [as_of], model_feature_settings(world), customer_ids=[customer_id])
    row = frame.iloc[0].to_dict()
    out: dict[str, object] = {}
    for k, v in row.items():
        if k == "as_of":
            out[k] = pd.Timestamp(v).isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out
