"""Per-feature contributions of a LightGBM model along each row's decision paths (Saabas 2014), from ``pred_leaf``.

A tree's output for a row is its root's expected value (LightGBM's ``internal_value``: the training-weighted mean of
the tree's output) plus, at every split on the row's path, the change of expected value from the node to the child
the row goes to; that change is credited to the split's feature. Summed over the trees, the contributions plus the
bias (the sum of the roots) equal the raw score exactly, as TreeSHAP's do (local accuracy). Unlike TreeSHAP
(Lundberg et al. 2020, "From local explanations to global understanding with explainable AI for trees") they are
not consistent: a feature split near a root can get more or less credit than its Shapley value, and a feature the
row's path does not split on gets none.

Why it exists: exact TreeSHAP (LightGBM ``pred_contrib``) costs O(trees x leaves x depth^2) per row. For the model
``churnltv train`` picks on 100,000 customers (121 trees of up to 63 leaves, depth up to 27) that is 1.27 ms a
row on one core: 21 minutes for a nightly base of 1M customers, and most of the API's 2 ms budget for one
customer. The path method is one ``pred_leaf`` pass plus a sparse product: 10 us a row on the same model and data
(``benchmarks/bench_reasons.py``). On that model the two agree on the top reason for 80% of customers.
Which method produces the reason codes is the setting ``CHURNLTV_REASONS_METHOD`` (``models.reason_codes``).

References: A. Saabas (2014), "Interpreting random forests" (the ``treeinterpreter`` package); XGBoost calls the
same attribution ``approx_contribs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


class TreePathContributions:
    """Contribution tables of one booster: row ``offsets[t] + leaf`` holds tree ``t``'s path credit per feature.

    ``table`` has one column per feature and a last column with the tree's root value (the bias), the layout of
    LightGBM's ``pred_contrib`` output, so a row of the result can replace a ``pred_contrib`` row anywhere.
    """

    def __init__(self, table: NDArray[np.float64], offsets: NDArray[np.int64]) -> None:
        self.table = table
        self.offsets = offsets

    @classmethod
    def from_booster(cls, booster: Any) -> TreePathContributions:
        """Walk every tree of ``booster.dump_model()`` once (about 0.1 s for a few hundred trees)."""
        dump = booster.dump_model()
        n_features = int(booster.num_feature())
        tables: list[NDArray[np.float64]] = []
        offsets: list[int] = []
        total = 0
        for info in dump["tree_info"]:
            table = np.zeros((int(info["num_leaves"]), n_features + 1), dtype=np.float64)
            _fill(info["tree_structure"], table, n_features)
            offsets.append(total)
            total += table.shape[0]
            tables.append(table)
        if not tables:
            return cls(np.zeros((0, n_features + 1)), np.zeros(0, dtype=np.int64))
        return cls(np.vstack(tables), np.asarray(offsets, dtype=np.int64))

    def __call__(self, booster: Any, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Contributions per row of ``matrix`` (the booster's encoded feature matrix): ``(n, n_features + 1)``."""
        import scipy.sparse as sp

        n = matrix.shape[0]
        if n == 0:
            return np.zeros((0, self.table.shape[1]), dtype=np.float64)
        # one row is done on the calling thread (see ChurnBundle.contributions_from_matrix for why)
        threads: dict[str, Any] = {"num_threads": 1} if n == 1 else {}
        leaves = np.asarray(booster.predict(matrix, pred_leaf=True, validate_features=False, **threads))
        rows = leaves.astype(np.int64).reshape(n, -1) + self.offsets[None, :]
        if n == 1:
            return np.asarray(self.table[rows[0]].sum(axis=0, keepdims=True), dtype=np.float64)
        t = rows.shape[1]
        # a row picks one leaf per tree: the sum over trees is a sparse (n x leaves) 0/1 matrix times the table
        pick = sp.csr_matrix((np.ones(n * t), rows.ravel(), np.arange(0, n * t + 1, t)), shape=(n, len(self.table)))
        return np.asarray(pick @ self.table, dtype=np.float64)


def _fill(root: dict[str, Any], table: NDArray[np.float64], n_features: int) -> None:
    """Write each leaf's path credit into ``table[leaf_index]`` (iteratively: LightGBM trees can be deep)."""
    if "leaf_index" in root:  # a stump: the whole tree is its bias
        table[int(root["leaf_index"]), n_features] = float(root["leaf_value"])
        return
    bias = float(root["internal_value"])
    stack: list[tuple[dict[str, Any], float, NDArray[np.float64]]] = [(root, bias, np.zeros(n_features + 1))]
    while stack:
        node, value, credit = stack.pop()
        feature = int(node["split_feature"])
        for side in ("left_child", "right_child"):
            child = node[side]
            child_value = float(child["leaf_value"] if "leaf_index" in child else child["internal_value"])
            path = credit.copy()
            path[feature] += child_value - value
            if "leaf_index" in child:
                path[n_features] = bias
                table[int(child["leaf_index"])] = path
            else:
                stack.append((child, child_value, path))
