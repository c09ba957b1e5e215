"""The churn model's LightGBM search space and the nominal-seconds budget it is searched under.

Determinism: LightGBM runs with ``deterministic=True`` and a thread count that depends only on the data size, the
search is a fixed list tried in order under a budget counted in nominal seconds of work (not wall time), and the
candidates are judged by rolling-origin evaluation (``churn_selection``). A wall-clock safety cap
(``tuning_wall_clock_cap_seconds``) can only stop the search early, between candidates; the run records whether it did
(``tuning_stopped_by``), since only then does the chosen model depend on the machine.
"""

from __future__ import annotations

from typing import Any

# training-matrix cells x boosting rounds per nominal second (about what 2 idle cores do with LightGBM)
NOMINAL_CELL_ROUNDS_PER_SECOND = 1.0e8

# A small search space, tried in this order until the time budget runs out (the first is a robust default).
SEARCH_SPACE: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 200, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 100, "feature_fraction": 0.7, "lambda_l2": 5.0},
    {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.9, "lambda_l2": 0.0},
)


STOPPED_COMPLETE = "search_space_exhausted"
STOPPED_BUDGET = "nominal_budget"
STOPPED_WALL_CLOCK = "wall_clock_cap"
