"""MLflow pyfunc wrapper of the LTV bundle, logged as *models-from-code* (no cloudpickle).

``mlflow.pyfunc.log_model(python_model=<this file>, artifacts={"bundle": <bundle dir>})`` stores this source
file and the plain JSON bundle; loading runs this file and ``load_context`` reads the bundle from
``context.artifacts["bundle"]``. ``predict`` takes a frame with ``frequency``, ``recency``, ``T`` and
``monetary_value`` (in the bundle's time unit; ``btyd_*`` feature names are accepted too) and returns P(alive),
expected purchases, P(no purchase), expected spend, predicted LTV with its interval and the method per row.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc.model import PythonModel, PythonModelContext

_ALIASES = {
    "btyd_frequency": "frequency",
    "btyd_recency": "recency",
    "btyd_T": "T",
    "btyd_monetary": "monetary_value",
}


class LtvPyfunc(PythonModel):
    """Scores BTYD summaries with the bundle logged next to this file."""

    def load_context(self, context: PythonModelContext) -> None:
        from pathlib import Path

        from models.customer_value import LtvPredictor

        self.predictor = LtvPredictor.from_bundle(Path(context.artifacts["bundle"]))

    def predict(self, context: PythonModelContext, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        from features.errors import UserInputError

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        frame = frame.rename(columns={k: v for k, v in _ALIASES.items() if k in frame.columns})
        missing = [c for c in ("frequency", "recency", "T", "monetary_value") if c not in frame.columns]
        if missing:
            raise UserInputError(f"LTV model input lacks column(s) {', '.join(missing)}")
        out = self.predictor.predict(frame["frequency"], frame["recency"], frame["T"], frame["monetary_value"])
        result = pd.DataFrame(out)
        if "customer_id" in frame.columns:
            result.insert(0, "customer_id", frame["customer_id"].to_numpy())
        return result


mlflow.models.set_model(LtvPyfunc())
