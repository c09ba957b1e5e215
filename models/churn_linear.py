"""A regularised logistic regression on log-scaled features: the churn model's linear candidate.

On a small base, or one whose churners are few, a boosted ensemble overfits where a linear model on log counts
does not (issue 14: on a subscription app LightGBM scored 0.625 and a plain logistic regression on log counts
~0.68). Each numeric feature x becomes ``sign(x) log1p(|x|)`` (counts and amounts are heavy-tailed; the sign keeps
trends), a missing value takes the training median of that column plus a 0/1 "missing" column (a customer without
tickets differs from one with many), categorical features become one 0/1 column per training category (an unseen
category is all zeros); every column is standardised on the training rows and the L2-penalised logistic
regression (scikit-learn, lbfgs) is fitted on them.

The fitted model is plain numbers, saved as ``linear_model.json`` in the churn bundle (no pickles): per column its
feature, kind, fill value, centre, scale and coefficient, plus the intercept. Scoring is a dot product; the
contribution of a feature is the sum of coefficient x standardised value over its columns (relative to the
training average, which is the standardised zero), the intercept is the bias column, and they add up to the
log-odds, exactly like the tree model's contributions, so reason codes work unchanged.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError
from models.churn_classifier import check_frame_columns, feature_matrix

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
LINEAR_FORMAT = 1
KINDS = ("log1p", "missing", "category")


@dataclass(frozen=True)
class LinearColumn:
    """One design column: which feature it comes from and how it is built and scaled."""

    feature: str
    kind: str  # "log1p" | "missing" | "category"
    category: float  # the category code (kind "category"), else 0
    fill: float  # the log-scale value a missing x takes (kind "log1p")
    center: float
    scale: float
    coef: float


def signed_log1p(x: FloatArray) -> FloatArray:
    out: FloatArray = np.sign(x) * np.log1p(np.abs(x))
    return out


@dataclass(frozen=True)
class ChurnLinearModel:
    """The fitted linear model over a float matrix in ``names`` order (``models.churn_classifier.feature_matrix``)."""

    names: tuple[str, ...]
    columns: tuple[LinearColumn, ...]
    intercept: float
    C: float

    def design(self, matrix: FloatArray) -> FloatArray:
        """The standardised design matrix (rows x columns)."""
        index = {name: i for i, name in enumerate(self.names)}
        out = np.empty((matrix.shape[0], len(self.columns)), dtype=np.float64)
        for j, col in enumerate(self.columns):
            x = matrix[:, index[col.feature]]
            if col.kind == "log1p":
                with np.errstate(invalid="ignore"):
                    v = np.where(
                        np.isfinite(x), signed_log1p(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)), col.fill
                    )
            elif col.kind == "missing":
                v = (~np.isfinite(x)).astype(np.float64)
            else:
                v = (x == col.category).astype(np.float64)
            out[:, j] = (v - col.center) / col.scale
        return out

    def coefficients(self) -> FloatArray:
        return np.array([c.coef for c in self.columns], dtype=np.float64)

    def log_odds(self, matrix: FloatArray) -> FloatArray:
        out: FloatArray = self.design(matrix) @ self.coefficients() + self.intercept
        return out

    def predict(self, matrix: FloatArray) -> FloatArray:
        """Uncalibrated probability of churn, one value per row."""
        out: FloatArray = 1.0 / (1.0 + np.exp(-self.log_odds(matrix)))
        return out

    def contributions(self, matrix: FloatArray) -> FloatArray:
        """Per-feature log-odds contributions (columns in ``names`` order), then the intercept; rows sum to the
        log-odds."""
        terms = self.design(matrix) * self.coefficients()
        index = {name: i for i, name in enumerate(self.names)}
        out = np.zeros((matrix.shape[0], len(self.names) + 1), dtype=np.float64)
        for j, col in enumerate(self.columns):
            out[:, index[col.feature]] += terms[:, j]
        out[:, -1] = self.intercept
        return out

    def feature_importance(self) -> dict[str, float]:
        """Sum of |coefficient| over each feature's standardised columns (the linear analogue of gain)."""
        out = dict.fromkeys(self.names, 0.0)
        for col in self.columns:
            out[col.feature] += abs(col.coef)
        return out

    # -- plain JSON --------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "format": LINEAR_FORMAT,
                "kind": "logistic_regression_l2",
                "names": list(self.names),
                "intercept": self.intercept,
                "C": self.C,
                "columns": [col.__dict__ for col in self.columns],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, *, where: str = "linear_model.json") -> ChurnLinearModel:
        try:
            data = json.loads(text)
            if data.get("format") != LINEAR_FORMAT:
                raise UserInputError(f"{where}: unknown format {data.get('format')!r} (expected {LINEAR_FORMAT})")
            names = tuple(str(n) for n in data["names"])
            columns = tuple(
                LinearColumn(
                    feature=str(c["feature"]),
                    kind=str(c["kind"]),
                    category=float(c["category"]),
                    fill=float(c["fill"]),
                    center=float(c["center"]),
                    scale=float(c["scale"]),
                    coef=float(c["coef"]),
                )
                for c in data["columns"]
            )
            model = cls(names, columns, float(data["intercept"]), float(data["C"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"{where} is not a valid linear churn model: {err}") from None
        bad = [c for c in columns if c.kind not in KINDS or c.feature not in names or not c.scale > 0]
        if bad:
            raise UserInputError(f"{where}: column {bad[0]} has an unknown kind, feature or a non-positive scale")
        return model


def fit_linear_model(
    matrix: FloatArray, y: FloatArray, names: list[str], categorical: list[str], *, C: float
) -> ChurnLinearModel:
    """Build the design on the training matrix (see the module docstring) and fit the L2 logistic regression."""
    from sklearn.linear_model import LogisticRegression

    specs: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        x = matrix[:, i]
        finite = np.isfinite(x)
        if name in categorical:
            for code in np.unique(x[finite]):
                specs.append({"feature": name, "kind": "category", "category": float(code), "fill": 0.0})
            continue
        logged = signed_log1p(x[finite])
        fill = float(np.median(logged)) if logged.size else 0.0
        specs.append({"feature": name, "kind": "log1p", "category": 0.0, "fill": fill})
        if not finite.all() and finite.any():
            specs.append({"feature": name, "kind": "missing", "category": 0.0, "fill": 0.0})
    raw = ChurnLinearModel(
        tuple(names), tuple(LinearColumn(**s, center=0.0, scale=1.0, coef=0.0) for s in specs), 0.0, C
    ).design(matrix)
    center = raw.mean(axis=0)
    scale = raw.std(axis=0)
    keep = scale > 1e-12  # a constant column carries nothing (and would divide by zero)
    columns = [
        LinearColumn(**s, center=float(m), scale=float(d), coef=0.0)
        for s, m, d, k in zip(specs, center, scale, keep, strict=True)
        if k
    ]
    z = (raw[:, keep] - center[keep]) / scale[keep]
    from sklearn.exceptions import ConvergenceWarning

    model = LogisticRegression(C=C, max_iter=2000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(z, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        # the product's own message, not sklearn's warning on the terminal: the coefficients are still usable
        logger.info("logistic regression (C=%g) stopped at %d iterations before full convergence", C, model.max_iter)
    coef = np.asarray(model.coef_, dtype=np.float64).ravel()
    fitted = tuple(LinearColumn(**{**c.__dict__, "coef": float(b)}) for c, b in zip(columns, coef, strict=True))
    return ChurnLinearModel(tuple(names), fitted, float(np.asarray(model.intercept_).ravel()[0]), C)


class ChurnLinearClassifier:
    """The linear candidate with the training job's classifier interface (fit on a frame, predict_proba)."""

    kind = "logistic"

    def __init__(self, spec: FeatureSpec, *, C: float = 0.1) -> None:
        self.spec = spec
        self.C = C
        self.best_iteration_ = 0

    def hyperparameters(self) -> dict[str, Any]:
        return {"model": "logistic_regression_l2", "C": self.C}

    def fit(
        self, X: pd.DataFrame, y: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None
    ) -> ChurnLinearClassifier:
        """Fit on the training frame (``eval_set`` is accepted for the tree model's interface and not used)."""
        import pandas as pd

        names = list(self.spec.names)
        categorical = [c for c in self.spec.categorical if c in names]
        check_frame_columns(X, names, categorical)
        y_train = np.asarray(y, dtype=np.float64).ravel()
        if np.unique(y_train).size < 2:
            raise UserInputError("the training rows contain only one class; need churned and retained customers")
        categories: dict[str, list[str]] = {}
        for name in categorical:
            col = X[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                categories[name] = [str(c) for c in col.cat.categories]
            else:
                categories[name] = sorted({str(v) for v in col.dropna().unique()})
        self.categories_ = categories
        self.feature_names_ = names
        matrix = feature_matrix(X, names, categories)
        self.model_ = fit_linear_model(matrix, y_train, names, categorical, C=self.C)
        return self

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Uncalibrated probabilities, shape (n, 2): P(retained), P(churned)."""
        p = self.model_.predict(feature_matrix(X, self.feature_names_, self.categories_))
        return np.column_stack([1.0 - p, p])

    def feature_importance(self, kind: str = "gain") -> dict[str, float]:
        return self.model_.feature_importance()
