"""MLflow pyfunc wrapper of the uplift bundle, logged as *models-from-code* (no cloudpickle).

``predict`` takes the feature frame (point-in-time features plus ``attr_*`` attributes) and returns
``uplift_<action>`` and ``spend_uplift_<action>`` per modelled action, so ``mlflow.pyfunc.load_model`` works
without churnltv-specific code paths.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class UpliftPyfunc(PythonModel):
    """Scores a feature frame with the uplift bundle logged next to this file."""

    def load_context(self, context: PythonModelContext) -> None:
        from models.uplift_bundle import UpliftBundle

        self.bundle = UpliftBundle.load(context.artifacts["bundle"])

    # no type hints on predict's inputs: MLflow would try to derive a schema from them and warn
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out = self.bundle.score(frame).reset_index(drop=True)
        if "customer_id" in frame.columns:
            out.insert(0, "customer_id", frame["customer_id"].to_numpy())
        return out


mlflow.models.set_model(UpliftPyfunc())
