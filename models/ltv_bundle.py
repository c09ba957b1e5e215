"""The LTV bundle: a plain directory of JSON files (no pickles), readable by any language.

Layout (docs/ARCHITECTURE.md): ``bgnbd.json`` (the selected count model's parameters, time unit and fit
diagnostics; its ``model`` key names the model: ``bgnbd``, ``pareto_nbd``, ``mbg_nbd``, ``mbg_cnbd_k``, ``bgbb`` or
``nbd``, so a BG/NBD-only bundle of format 1 loads unchanged), ``gamma_gamma.json`` (Gamma-Gamma parameters,
exclusion counts, frequency-spend correlation; ``{"model": "none"}`` when spend was constant or absent, the
value per purchase then in ``metadata.json``'s ``spend_model``), ``parameter_draws.json`` (draws of the
parameters, for intervals) and ``metadata.json`` (settings used, data window, selected model, every candidate's
holdout metrics, format version).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from features.errors import UserInputError
from models.btyd_family import count_model_from_dict
from models.count_model import CountModel
from models.gamma_gamma import GammaGammaModel
from models.parameter_draws import ParameterDraws

BUNDLE_KIND = "churnltv-ltv"
FORMAT_VERSION = 2  # 2: any count model in bgnbd.json, optional Gamma-Gamma; version 1 bundles still load
FILES = ("bgnbd.json", "gamma_gamma.json", "parameter_draws.json", "metadata.json")


def _write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def save_ltv_bundle(
    directory: Path,
    bgnbd: CountModel,
    gg: GammaGammaModel | None,
    draws: ParameterDraws,
    metadata: dict[str, Any],
) -> Path:
    """Write the four JSON files into ``directory`` (created if needed) and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "bgnbd.json", bgnbd.to_dict())
    _write(directory / "gamma_gamma.json", gg.to_dict() if gg is not None else {"model": "none"})
    _write(directory / "parameter_draws.json", draws.to_dict())
    _write(directory / "metadata.json", {"kind": BUNDLE_KIND, "format_version": FORMAT_VERSION, **metadata})
    return directory


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserInputError(
            f"{path.parent} is not an LTV bundle: {path.name} is missing (expected {', '.join(FILES)})"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserInputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    return data


def load_ltv_bundle(
    directory: Path,
) -> tuple[CountModel, GammaGammaModel | None, ParameterDraws, dict[str, Any]]:
    """Read a bundle written by :func:`save_ltv_bundle`; a wrong or partial directory is a ``UserInputError``."""
    directory = Path(directory)
    metadata = _read(directory / "metadata.json")
    if metadata.get("kind") != BUNDLE_KIND:
        raise UserInputError(f"{directory} is not an LTV bundle (metadata.json kind = {metadata.get('kind')!r})")
    count_data = _read(directory / "bgnbd.json")
    count_data.setdefault("model", "bgnbd")
    bgnbd = count_model_from_dict(count_data)
    gg_data = _read(directory / "gamma_gamma.json")
    gg = None if gg_data.get("model") == "none" else GammaGammaModel.from_dict(gg_data)
    draws = ParameterDraws.from_dict(_read(directory / "parameter_draws.json"))
    return bgnbd, gg, draws, metadata
