"""The uplift model as a plain-artifact directory, and the object that scores with it.

Layout (no pickles, readable with a text editor)::

    effects.json       per action: cost per contact, and per outcome (retention, spend) the learner, its
                       propensity and the LightGBM text files its effect formula reads (models/uplift_learners.py)
    models/*.txt       LightGBM text models, one per part (e.g. care_email_feature_tips.retention.tau_control.txt)
    feature_spec.json  the point-in-time feature specification the models were trained on
    metadata.json      feature names and categories (attr_* attributes included), horizon, data range, campaigns,
                       holdout metrics, library versions

``UpliftBundle.score(frame)`` gives, per modelled action, ``uplift_<action>`` (the change in the probability of
being retained over the horizon if contacted with that action rather than not) and ``spend_uplift_<action>``
(the change in spend over the horizon; absent when the training data had no transactions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError
from models.churn_classifier import feature_matrix
from models.lightgbm_model_text import load_booster
from models.uplift_learners import LEARNER_PARTS, EffectModel

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec

BUNDLE_FILES = ("effects.json", "feature_spec.json", "metadata.json")
BUNDLE_FORMAT = 1
OUTCOMES = ("retention", "spend")
_ACTION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def uplift_column(action: str) -> str:
    """Column of the retention uplift of ``action``."""
    return f"uplift_{action}"


def spend_uplift_column(action: str) -> str:
    """Column of the spend uplift of ``action``."""
    return f"spend_uplift_{action}"


@dataclass
class ActionModels:
    """The effect models of one action and what a contact costs."""

    action: str
    retention: EffectModel
    spend: EffectModel | None
    cost: float
    contacts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ACTION_KEY.match(self.action):
            raise UserInputError(f"action key {self.action!r} must be a letter then letters, digits or _")
        if not np.isfinite(self.cost) or self.cost < 0:
            raise UserInputError(f"cost of action {self.action!r} must be a non-negative number, got {self.cost}")


@dataclass
class UpliftBundle:
    """Effect models per action over one feature order (names + categories)."""

    names: list[str]
    categories: dict[str, list[str]]
    actions: dict[str, ActionModels]
    spec: FeatureSpec
    metadata: dict[str, Any]
    path: Path | None = None

    def __post_init__(self) -> None:
        for models in self.actions.values():
            for effect in (models.retention, models.spend):
                if effect is None:
                    continue
                for part, booster in effect.boosters.items():
                    if booster.num_feature() != len(self.names):
                        raise UserInputError(
                            f"uplift model {models.action}/{part} has {booster.num_feature()} features, the bundle "
                            f"lists {len(self.names)}"
                        )

    @property
    def action_keys(self) -> list[str]:
        return list(self.actions)

    @property
    def horizon_days(self) -> int | None:
        value = self.metadata.get("horizon_days")
        return int(value) if value is not None else None

    @property
    def attributes(self) -> list[str]:
        return [n for n in self.names if n.startswith("attr_")]

    # -- scoring ------------------------------------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame | Mapping[str, Any]) -> NDArray[np.float64]:
        """The encoded float matrix (bundle feature order; an attribute the frame lacks is missing, NaN)."""
        if hasattr(frame, "columns"):
            absent = [n for n in self.attributes if n not in frame.columns]
            if absent:
                frame = frame.assign(**{n: None for n in absent})  # type: ignore[union-attr]
        return feature_matrix(frame, self.names, self.categories)

    def effects_from_matrix(self, matrix: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Column name -> effect per row (retention uplift and, where modelled, spend uplift per action)."""
        out: dict[str, NDArray[np.float64]] = {}
        for action, models in self.actions.items():
            out[uplift_column(action)] = np.clip(models.retention.effect(matrix), -1.0, 1.0)
            if models.spend is not None:
                out[spend_uplift_column(action)] = models.spend.effect(matrix)
        return out

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: uplift_<action> and spend_uplift_<action> for every modelled action."""
        import pandas as pd

        return pd.DataFrame(self.effects_from_matrix(self.matrix(frame)), index=frame.index)

    @property
    def costs(self) -> dict[str, float]:
        return {a: m.cost for a, m in self.actions.items()}

    def decide(self, frame: pd.DataFrame, ltv: NDArray[np.float64], *, no_action: str = "no_action") -> pd.DataFrame:
        """``score`` plus best_action, expected_uplift, incremental_value and action_cost
        (``models.retention_decision.decide`` with this bundle's costs)."""
        import pandas as pd

        from models.retention_decision import decide

        effects = self.effects_from_matrix(self.matrix(frame))
        decisions = decide(
            {a: effects[uplift_column(a)] for a in self.actions},
            {a: effects[spend_uplift_column(a)] for a in self.actions if spend_uplift_column(a) in effects},
            ltv,
            self.costs,
            no_action=no_action,
        )
        return pd.concat([pd.DataFrame(effects, index=frame.index), decisions.frame(frame.index)], axis=1)

    # -- files ----------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the bundle into ``path`` (created if needed) and return it."""
        out = Path(path)
        (out / "models").mkdir(parents=True, exist_ok=True)
        effects: dict[str, Any] = {}
        for action, models in self.actions.items():
            entry: dict[str, Any] = {"cost": models.cost, "contacts": models.contacts}
            for outcome, effect in (("retention", models.retention), ("spend", models.spend)):
                if effect is None:
                    continue
                files = {}
                for part, booster in effect.boosters.items():
                    name = f"{action}.{outcome}.{part}.txt"
                    (out / "models" / name).write_text(booster.model_to_string(), encoding="utf-8")
                    files[part] = f"models/{name}"
                entry[outcome] = {
                    "learner": effect.learner,
                    "propensity": effect.propensity,
                    "files": files,
                    "info": effect.info,
                }
            effects[action] = entry
        (out / "effects.json").write_text(json.dumps(effects, indent=1, default=str), encoding="utf-8")
        (out / "feature_spec.json").write_text(self.spec.to_json(), encoding="utf-8")
        meta = {**self.metadata, "feature_names": self.names, "categories": self.categories}
        meta.setdefault("bundle_format", BUNDLE_FORMAT)
        (out / "metadata.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
        self.path = out
        return out

    @classmethod
    def load(cls, path: str | Path) -> UpliftBundle:
        """Read a bundle directory; a missing or damaged file is a ``UserInputError`` naming it."""
        from features.feature_spec import FeatureSpec

        root = Path(path)
        if not root.is_dir():
            raise UserInputError(f"uplift model bundle {root} does not exist or is not a directory")
        missing = [name for name in BUNDLE_FILES if not (root / name).is_file()]
        if missing:
            raise UserInputError(f"uplift model bundle {root} is incomplete: missing {', '.join(missing)}")
        texts = {}
        for name in ("effects.json", "metadata.json"):
            try:
                texts[name] = json.loads((root / name).read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise UserInputError(f"{root / name} is not valid JSON: {err}") from None
        spec = FeatureSpec.from_json((root / "feature_spec.json").read_text(encoding="utf-8"))
        metadata = texts["metadata.json"]
        actions: dict[str, ActionModels] = {}
        for action, entry in texts["effects.json"].items():
            effects: dict[str, EffectModel | None] = {"retention": None, "spend": None}
            for outcome in OUTCOMES:
                described = entry.get(outcome)
                if described is None:
                    continue
                learner = described.get("learner")
                if learner not in LEARNER_PARTS:
                    raise UserInputError(f"{root / 'effects.json'}: action {action!r} has unknown learner {learner!r}")
                boosters = {}
                for part, relative in described["files"].items():
                    file = root / relative
                    if not file.is_file():
                        raise UserInputError(f"uplift model bundle {root} is incomplete: missing {relative}")
                    boosters[part] = load_booster(file)  # checked: a damaged file must not abort the process
                info = described.get("info", {})
                effects[outcome] = EffectModel(learner, boosters, described.get("propensity"), info)
            retention = effects["retention"]
            if retention is None:
                raise UserInputError(f"{root / 'effects.json'}: action {action!r} has no retention model")
            actions[action] = ActionModels(
                action, retention, effects["spend"], float(entry.get("cost", 0.0)), dict(entry.get("contacts", {}))
            )
        return cls(
            names=list(metadata["feature_names"]),
            categories={k: list(v) for k, v in metadata.get("categories", {}).items()},
            actions=actions,
            spec=spec,
            metadata=metadata,
            path=root,
        )
