"""LightGBM churn classifier on the point-in-time feature frame.

Gradient-boosted decision trees (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient Boosting Decision
Tree") suit this problem: mixed-scale counts and ratios, missing values with meaning ("never"), interactions
between tenure, activity decline and breadth, and no need for scaling. The classifier follows scikit-learn
conventions (it subclasses ``ClassifierMixin`` and ``BaseEstimator``, so ``get_params``/``set_params``/``clone``
work; parameters are stored verbatim in ``__init__``; ``fit`` returns ``self``; fitted attributes end in ``_``,
including ``classes_``; use before ``fit`` raises ``sklearn.exceptions.NotFittedError``) and is deterministic:
``deterministic=True``, ``force_row_wise``, a fixed thread count and seed.

The frame is turned into a float matrix by ``feature_matrix``, in the feature specification's column order:
categorical columns become integer codes against the categories fixed at ``fit`` (unknown values and nulls
become NaN, which LightGBM treats as missing) and LightGBM's native categorical splits use those codes. Training
and scoring go through the same function, so a saved model needs only its category lists, not pandas.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from features.errors import UserInputError

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

    from features.feature_spec import FeatureSpec

KEY_COLUMNS = ("customer_id", "as_of")


def prefer_passive_openmp() -> None:
    """Ask OpenMP to sleep rather than spin while waiting (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose.

    LightGBM opens many short parallel regions per tree; with the default active wait, a busy machine (other
    jobs on the same 2 cores) makes spinning threads starve each other: we measured one 50-tree fit on 180k
    rows at 31.8 s active vs 1.7 s passive under load. It only takes effect if set before the OpenMP runtime is
    first loaded in the process, so the CLI calls it before importing LightGBM. Results do not change.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


__all__ = ["ChurnClassifier", "NotFittedError", "check_frame_columns", "feature_matrix"]
# NotFittedError is scikit-learn's (a ValueError and an AttributeError, not a UserInputError): using a model
# before fitting it is a programming error, so the CLI reports it as unexpected (exit 1), never as bad input.


def check_frame_columns(frame: pd.DataFrame, names: Sequence[str], categorical: Sequence[str]) -> None:
    """Raise ``UserInputError`` naming every missing, extra or wrongly typed feature column.

    ``customer_id`` and ``as_of`` are allowed as keys. Numeric features must have a numeric (or boolean) dtype;
    categorical features must be pandas ``category``, string or object columns.
    """
    import pandas as pd

    present = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in present]
    extra = [c for c in present if c not in names and c not in KEY_COLUMNS]
    cats = set(categorical)
    wrong = []
    for name in names:
        if name not in present:
            continue
        dtype = frame[name].dtype
        if name in cats:
            ok = isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) or dtype.kind == "O"
            if not ok:
                wrong.append(f"{name} (categorical, got {dtype})")
        elif not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            wrong.append(f"{name} (numeric, got {dtype})")
    problems = []
    if missing:
        problems.append("missing column(s): " + ", ".join(missing))
    if extra:
        problems.append("unexpected column(s): " + ", ".join(extra))
    if wrong:
        problems.append("wrongly typed column(s): " + ", ".join(wrong))
    if problems:
        raise UserInputError(
            "the feature frame does not match the model's feature specification: " + "; ".join(problems)
        )


def _category_codes(values: Iterable[Any], lookup: Mapping[str, float]) -> list[float]:
    """Categorical values as codes (NaN for an unknown value, a null or anything not a string)."""
    nan = np.nan
    return [lookup.get(v, nan) if isinstance(v, str) else nan for v in values]


def _matrix_from_lists(
    frame: Mapping[str, Any], names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> NDArray[np.float64] | None:
    """``feature_matrix`` of a mapping whose columns are equal-length lists (a request's rows), built in one
    array conversion; None when the mapping is anything else (a missing column, arrays or scalars, a value
    numpy cannot read as a number), which the general path then handles or reports."""
    try:
        raw = [frame[name] for name in names]
    except KeyError:
        return None
    if not raw or any(type(values) is not list for values in raw) or len({len(values) for values in raw}) != 1:
        return None
    columns = []
    for name, values in zip(names, raw, strict=True):
        if name in categories:
            lookup = {value: float(i) for i, value in enumerate(categories[name])}
            columns.append(_category_codes(values, lookup))
        else:
            columns.append(values)  # numpy reads None as NaN when it builds a float array
    try:
        return np.array(list(zip(*columns, strict=True)), dtype=np.float64).reshape(len(raw[0]), len(names))
    except (TypeError, ValueError):
        return None


def feature_matrix(
    frame: pd.DataFrame | Mapping[str, Any], names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> NDArray[np.float64]:
    """Float matrix (rows x ``names``) with categorical values encoded as codes of ``categories``.

    Accepts a DataFrame or a mapping of column -> values (or a scalar for one row); the mapping path avoids
    pandas so scoring one customer stays in the microseconds.
    """
    if isinstance(frame, Mapping):
        fast = _matrix_from_lists(frame, names, categories)
        if fast is not None:
            return fast
    columns: list[NDArray[np.float64]] = []
    n_rows: int | None = None
    for name in names:
        try:
            raw = frame[name]
        except KeyError:
            raise UserInputError(f"the feature frame has no column {name!r}") from None
        if name in categories:
            lookup = {value: float(i) for i, value in enumerate(categories[name])}
            values = np.atleast_1d(np.asarray(raw, dtype=object))
            col = np.array(_category_codes(values, lookup), dtype=np.float64)
        else:
            arr = np.atleast_1d(np.asarray(raw))
            if arr.dtype == object:
                arr = np.array([np.nan if v is None else v for v in arr], dtype=object)
            try:
                col = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise UserInputError(f"feature {name!r} must be numeric, got values like {arr[:3].tolist()}") from None
        if n_rows is None:
            n_rows = col.size
        elif col.size != n_rows:
            raise UserInputError(f"feature {name!r} has {col.size} values, the other columns {n_rows}")
        columns.append(col)
    if not columns:
        return np.empty((0, 0), dtype=np.float64)
    return np.column_stack(columns)


class ChurnClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn ships no type stubs
    """Binary LightGBM classifier of churn within the horizon, early-stopped on a later validation window.

    ``spec`` (the feature specification) is a constructor parameter like the hyper-parameters, so ``clone``
    gives an unfitted copy for the same features; ``hyperparameters()`` is ``get_params()`` without it.
    """

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 100,
        feature_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        max_rounds: int = 1000,
        early_stopping_rounds: int = 50,
        random_state: int = 7,
        num_threads: int = 2,
    ) -> None:
        self.spec = spec
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.lambda_l2 = lambda_l2
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.num_threads = num_threads

    def hyperparameters(self) -> dict[str, Any]:
        """``get_params()`` without the feature specification: the plain values logged to MLflow and metadata."""
        return {k: v for k, v in self.get_params(deep=False).items() if k != "spec"}

    def lightgbm_params(self) -> dict[str, Any]:
        """The LightGBM parameters; everything that affects determinism is fixed here."""
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "feature_fraction_seed": self.random_state,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": 10.0,
            "min_data_per_group": 50,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }

    def _labels(self, y: Any, what: str) -> NDArray[np.float64]:
        arr = np.asarray(y, dtype=np.float64).ravel()
        if not np.isin(arr, (0.0, 1.0)).all():
            raise UserInputError(f"{what} labels must be 0 or 1 (churned or not)")
        return arr

    def fit(self, X: pd.DataFrame, y: Any, *, eval_set: tuple[pd.DataFrame, Any] | None = None) -> ChurnClassifier:
        """Fit on the training frame; with ``eval_set`` (validation window) stop early on its log loss."""
        prefer_passive_openmp()
        import lightgbm as lgb
        import pandas as pd

        names = list(self.spec.names)
        categorical = [c for c in self.spec.categorical if c in names]
        check_frame_columns(X, names, categorical)
        y_train = self._labels(y, "training")
        if y_train.size != len(X):
            raise UserInputError(f"{len(X)} training rows but {y_train.size} labels")
        if np.unique(y_train).size < 2:
            raise UserInputError("the training rows contain only one class; need churned and retained customers")
        categories: dict[str, list[str]] = {}
        for name in categorical:
            col = X[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                values = [str(c) for c in col.cat.categories]
            else:
                values = sorted({str(v) for v in col.dropna().unique()})
            categories[name] = values
        self.categories_ = categories
        self.feature_names_ = names
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1], dtype=np.int64)
        cat_idx = [names.index(c) for c in categorical]
        dataset_params = {"verbosity": -1, "max_bin": 255, "seed": self.random_state}
        train = lgb.Dataset(
            feature_matrix(X, names, categories),
            label=y_train,
            feature_name=names,
            categorical_feature=cat_idx,
            free_raw_data=True,
            params=dataset_params,
        )
        valid_sets: list[lgb.Dataset] = []
        callbacks: list[Any] = []
        self.evals_result_: dict[str, Any] = {}
        if eval_set is not None:
            X_val, y_val = eval_set
            check_frame_columns(X_val, names, categorical)
            valid = lgb.Dataset(
                feature_matrix(X_val, names, categories),
                label=self._labels(y_val, "validation"),
                reference=train,
                categorical_feature=cat_idx,
                params=dataset_params,
            )
            valid_sets = [valid]
            callbacks = [
                lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                lgb.record_evaluation(self.evals_result_),
            ]
        booster = lgb.train(
            self.lightgbm_params(),
            train,
            num_boost_round=self.max_rounds,
            valid_sets=valid_sets,
            valid_names=["validation"][: len(valid_sets)],
            callbacks=callbacks,
        )
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        self.booster_: lgb.Booster = booster
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """What ``sklearn.utils.validation.check_is_fitted`` asks."""
        return hasattr(self, "booster_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("this ChurnClassifier is not fitted yet; call fit(X, y) before predicting")

    def _matrix(self, X: pd.DataFrame) -> NDArray[np.float64]:
        self._check_fitted()
        check_frame_columns(X, self.feature_names_, list(self.categories_))
        return feature_matrix(X, self.feature_names_, self.categories_)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Uncalibrated probabilities, shape (n, 2): columns P(retained), P(churned) (scikit-learn layout)."""
        m = self._matrix(X)
        p = np.asarray(self.booster_.predict(m, num_iteration=self.best_iteration_), dtype=np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> NDArray[np.int64]:
        """Class labels (``classes_``: 0 retained, 1 churned) at the churn-probability ``threshold``."""
        churned = self.predict_proba(X)[:, 1] >= threshold  # checks fitted first
        labels: NDArray[np.int64] = self.classes_[churned.astype(np.int64)]
        return labels

    def contributions(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Per-feature log-odds contributions (TreeSHAP, ``pred_contrib``); last column is the bias."""
        m = self._matrix(X)
        return np.asarray(
            self.booster_.predict(m, num_iteration=self.best_iteration_, pred_contrib=True), dtype=np.float64
        )

    def feature_importance(self, kind: str = "gain") -> dict[str, float]:
        self._check_fitted()
        values = self.booster_.feature_importance(importance_type=kind, iteration=self.best_iteration_)
        return {n: float(v) for n, v in zip(self.feature_names_, values, strict=True)}

    def model_text(self) -> str:
        """LightGBM text model truncated to the best iteration (what the bundle stores)."""
        self._check_fitted()
        return str(self.booster_.model_to_string(num_iteration=self.best_iteration_))


def booster_from_text(text: str) -> lgb.Booster:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)
