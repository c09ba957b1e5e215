"""The churn model as a plain-artifact directory, and the object that scores with it.

Layout (no pickles, readable with a text editor)::

    model.txt          LightGBM text model (truncated at the early-stopping iteration), or
    linear_model.json  the regularised logistic regression (models/churn_linear.py) when model selection kept it
    calibrator.json    isotonic thresholds or Platt coefficients (models/probability_calibration.py)
    feature_spec.json  the feature specification the model was trained on (features/feature_spec.py)
    metadata.json      data range, cutoffs, horizon, metrics, library versions, categories, reference values

``ChurnBundle.load(path, expected_spec)`` refuses a bundle whose specification differs from what the caller will
feed it and lists exactly what differs. Reason codes come from ``reason_method`` ("path" or "treeshap",
``models.reason_codes``). Scoring is built for the API's one-customer path: the frame (or a plain
mapping of column -> value) becomes a float matrix without pandas and goes straight into ``Booster.predict``.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError
from models.churn_classifier import feature_matrix
from models.lightgbm_model_text import load_booster
from models.probability_calibration import ProbabilityCalibration
from models.reason_codes import Reason, ReasonMethod, reason_codes
from models.tree_path_contributions import TreePathContributions

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from models.churn_classifier import ChurnClassifier
    from models.churn_linear import ChurnLinearClassifier, ChurnLinearModel

BUNDLE_FILES = ("model.txt", "calibrator.json", "feature_spec.json", "metadata.json")
"""The files of a LightGBM bundle; a linear one has ``linear_model.json`` instead of ``model.txt``."""
LINEAR_MODEL_FILE = "linear_model.json"
BUNDLE_FORMAT = 1


def library_versions() -> dict[str, str]:
    """Versions that determine how the bundle was produced (recorded in metadata.json)."""
    import lightgbm
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "lightgbm": str(lightgbm.__version__),
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
    }


@dataclass
class ChurnBundle:
    """A loaded churn model: LightGBM booster (or the linear model) + calibrator + feature spec + metadata."""

    booster: lgb.Booster | None
    calibrator: ProbabilityCalibration
    spec: FeatureSpec
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    reason_method: ReasonMethod | None = None  # None: the setting CHURNLTV_REASONS_METHOD (default "path")
    linear: ChurnLinearModel | None = None

    def __post_init__(self) -> None:
        if self.reason_method is None:
            from models.reason_codes import ReasonSettings

            self.reason_method = ReasonSettings().method
        if (self.booster is None) == (self.linear is None):
            raise UserInputError("a churn bundle holds exactly one model: a LightGBM booster or a linear model")
        # built once per loaded bundle (~0.1 s for a few hundred trees), never on a request
        self._paths = (
            TreePathContributions.from_booster(self.booster)
            if self.booster is not None and self.reason_method == "path"
            else None
        )
        self.names: list[str] = list(self.metadata.get("feature_names") or self.spec.names)
        self.categories: dict[str, list[str]] = {k: list(v) for k, v in self.metadata.get("categories", {}).items()}
        self.references: dict[str, float] = dict(self.metadata.get("reference_values", {}))
        source, model_names = (
            ("model.txt", list(self.booster.feature_name()))
            if self.booster is not None
            else (LINEAR_MODEL_FILE, list(self.linear.names) if self.linear is not None else [])
        )
        if model_names != self.names:
            raise UserInputError(
                f"{source} features {model_names} do not match metadata.json feature_names {self.names}"
            )

    @property
    def model_kind(self) -> str:
        """``lightgbm`` or ``logistic`` (the linear model)."""
        return "lightgbm" if self.booster is not None else "logistic"

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_classifier(
        cls,
        classifier: ChurnClassifier | ChurnLinearClassifier,
        calibrator: ProbabilityCalibration,
        metadata: Mapping[str, Any],
    ) -> ChurnBundle:
        """Bundle a fitted classifier: the model is re-read from its saved text so it equals what load() gives."""
        from models.churn_classifier import booster_from_text
        from models.churn_linear import ChurnLinearClassifier, ChurnLinearModel

        meta = dict(metadata)
        meta.setdefault("bundle_format", BUNDLE_FORMAT)
        meta["feature_names"] = list(classifier.feature_names_)
        meta["categories"] = classifier.categories_
        meta["best_iteration"] = classifier.best_iteration_
        meta["params"] = classifier.hyperparameters()
        meta.setdefault("library_versions", library_versions())
        if isinstance(classifier, ChurnLinearClassifier):
            linear = ChurnLinearModel.from_json(classifier.model_.to_json())
            return cls(None, calibrator, classifier.spec, meta, linear=linear)
        return cls(booster_from_text(classifier.model_text()), calibrator, classifier.spec, meta)

    def save(self, path: str | Path) -> Path:
        """Write the four files into ``path`` (created if needed) and return it."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        if self.booster is not None:
            (out / "model.txt").write_text(self.booster.model_to_string(), encoding="utf-8")
        elif self.linear is not None:
            (out / LINEAR_MODEL_FILE).write_text(self.linear.to_json(), encoding="utf-8")
        (out / "calibrator.json").write_text(self.calibrator.to_json(), encoding="utf-8")
        (out / "feature_spec.json").write_text(self.spec.to_json(), encoding="utf-8")
        (out / "metadata.json").write_text(json.dumps(self.metadata, indent=1, default=str), encoding="utf-8")
        self.path = out
        return out

    @classmethod
    def load(
        cls, path: str | Path, expected_spec: FeatureSpec | None = None, *, reason_method: ReasonMethod | None = None
    ) -> ChurnBundle:
        """Read a bundle directory; with ``expected_spec``, raise ``UserInputError`` listing every difference.

        ``reason_method`` (default: the setting ``CHURNLTV_REASONS_METHOD``) is how reasons are computed."""
        from features.feature_spec import FeatureSpec

        root = Path(path)
        if not root.is_dir():
            raise UserInputError(f"churn model bundle {root} does not exist or is not a directory")
        linear_file = root / LINEAR_MODEL_FILE
        expected = BUNDLE_FILES[1:] if linear_file.is_file() else BUNDLE_FILES
        missing = [name for name in expected if not (root / name).is_file()]
        if missing:
            raise UserInputError(f"churn model bundle {root} is incomplete: missing {', '.join(missing)}")
        spec = FeatureSpec.from_json((root / "feature_spec.json").read_text(encoding="utf-8"))
        if expected_spec is not None:
            differences = spec.diff(expected_spec)
            if differences:
                shown = "\n".join(f"  - {d}" for d in differences)
                raise UserInputError(
                    f"churn model bundle {root} was trained on a different feature specification than the one "
                    f"supplied ({len(differences)} difference(s)):\n{shown}"
                )
        try:
            metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise UserInputError(f"{root / 'metadata.json'} is not valid JSON: {err}") from None
        calibrator = ProbabilityCalibration.from_json((root / "calibrator.json").read_text(encoding="utf-8"))
        if linear_file.is_file():
            from models.churn_linear import ChurnLinearModel

            linear = ChurnLinearModel.from_json(linear_file.read_text(encoding="utf-8"), where=str(linear_file))
            return cls(None, calibrator, spec, metadata, path=root, reason_method=reason_method, linear=linear)
        booster = load_booster(root / "model.txt")  # checked first: a damaged file must not abort the process
        return cls(booster, calibrator, spec, metadata, path=root, reason_method=reason_method)

    # -- scoring ------------------------------------------------------------------------------------
    def matrix(self, frame: pd.DataFrame | Mapping[str, Any]) -> NDArray[np.float64]:
        """The encoded float matrix the booster scores (columns in the bundle's feature order)."""
        return feature_matrix(frame, self.names, self.categories)

    def raw_proba_from_matrix(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.linear is not None:
            return self.linear.predict(matrix)
        assert self.booster is not None
        return np.asarray(self.booster.predict(matrix, validate_features=False), dtype=np.float64)

    def raw_proba_from_contributions(
        self, contributions: NDArray[np.float64], matrix: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The uncalibrated probability from a contributions pass (rows sum to the log-odds), without a second
        pass over the model when the link is the logistic one (linear model; LightGBM's binary objective)."""
        if self.linear is not None:
            return np.asarray(1.0 / (1.0 + np.exp(-contributions.sum(axis=1))), dtype=np.float64)
        assert self.booster is not None
        params = self.booster.params
        if params.get("objective") == "binary":
            slope = float(params.get("sigmoid", 1.0))
            return np.asarray(1.0 / (1.0 + np.exp(-slope * contributions.sum(axis=1))), dtype=np.float64)
        return self.raw_proba_from_matrix(matrix)  # any other objective: LightGBM applies its own link

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature (LightGBM), or the summed |standardised coefficient| (linear model)."""
        if self.linear is not None:
            return self.linear.feature_importance()
        assert self.booster is not None
        gains = self.booster.feature_importance(importance_type="gain")
        return {name: float(v) for name, v in zip(self.names, gains, strict=True)}

    def raw_proba(self, frame: pd.DataFrame | Mapping[str, Any]) -> NDArray[np.float64]:
        """Uncalibrated LightGBM probability of churn within the horizon."""
        return self.raw_proba_from_matrix(self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame | Mapping[str, Any]) -> NDArray[np.float64]:
        """Calibrated probability of churn within the horizon, one value per row."""
        return self.calibrator.predict(self.raw_proba(frame))

    def contributions_from_matrix(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-row log-odds contributions, one column per feature, then the bias; rows sum to the raw score.

        ``reason_method`` "path": decision-path credit (``models.tree_path_contributions``, tables built on first
        use); "treeshap": LightGBM ``pred_contrib``. One row is explained on the calling thread: otherwise LightGBM
        wakes its whole OpenMP team for a loop of one iteration and waits at the barrier for the idle threads,
        which on a busy machine (sleeping threads under OMP_WAIT_POLICY=PASSIVE, no free core) costs more than the
        row. Values do not change."""
        if self.linear is not None:
            return self.linear.contributions(matrix)
        assert self.booster is not None
        if self._paths is not None:
            return self._paths(self.booster, matrix)
        threads: dict[str, Any] = {"num_threads": 1} if matrix.shape[0] == 1 else {}
        contrib = self.booster.predict(matrix, pred_contrib=True, validate_features=False, **threads)
        return np.asarray(contrib, dtype=np.float64)

    def reasons_from_matrix(self, matrix: NDArray[np.float64], k: int = 3) -> list[list[Reason]]:
        if matrix.shape[0] == 0:
            return []
        contrib = self.contributions_from_matrix(matrix)
        return reason_codes(
            contrib, matrix, self.names, self.spec, k=k, categories=self.categories, references=self.references
        )

    def reasons(self, frame: pd.DataFrame | Mapping[str, Any], k: int = 3) -> list[list[Reason]]:
        """Top-``k`` reasons per row: dicts with feature, value, contribution (log-odds) and phrase."""
        return self.reasons_from_matrix(self.matrix(frame), k)

    def predict_with_reasons(
        self, frame: pd.DataFrame | Mapping[str, Any], k: int = 3
    ) -> tuple[NDArray[np.float64], list[list[Reason]]]:
        """Calibrated probabilities and reasons from one encoding of the frame (the API's path)."""
        m = self.matrix(frame)
        return self.calibrator.predict(self.raw_proba_from_matrix(m)), self.reasons_from_matrix(m, k)

    @property
    def horizon_days(self) -> int | None:
        value = self.metadata.get("horizon_days")
        return int(value) if value is not None else None
