"""MLflow pyfunc wrapper of the churn bundle, logged as *models-from-code* (no cloudpickle).

``mlflow.pyfunc.log_model(python_model=<this file>, artifacts={"bundle": <bundle dir>})`` stores this source
file and the plain bundle; loading runs this file and calls ``load_context``, which reads the bundle from
``context.artifacts["bundle"]``. ``predict`` takes the feature frame and returns the calibrated churn
probability plus the uncalibrated score, so ``mlflow models serve`` and ``mlflow.pyfunc.load_model`` work
without churnltv-specific code paths.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class ChurnPyfunc(PythonModel):
    """Scores a feature frame with the bundle logged next to this file."""

    def load_context(self, context: PythonModelContext) -> None:
        from models.churn_bundle import ChurnBundle

        self.bundle = ChurnBundle.load(context.artifacts["bundle"])

    # no type hints on predict's inputs: MLflow would try to derive a schema from them and warn
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        raw = self.bundle.raw_proba(frame)
        out = pd.DataFrame({"churn_probability": self.bundle.calibrator.predict(raw), "raw_score": raw})
        if "customer_id" in frame.columns:
            out.insert(0, "customer_id", frame["customer_id"].to_numpy())
        return out


mlflow.models.set_model(ChurnPyfunc())
