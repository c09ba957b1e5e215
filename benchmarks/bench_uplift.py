"""Retention decisions that pay (issue 15): uplift targeting against the truth of a generated base with campaigns.

    python -m benchmarks.bench_uplift [--customers 20000] [--seed 7]

1. Generates a base with past retention campaigns (``churnltv.generator.campaigns.RetentionCampaigns``: random
   control groups, persuadables, sure things, lost causes and sleeping dogs) and writes it to DuckDB.
2. Trains the churn model and the LTV models (force-promoted), and the uplift model with the truth as oracle
   (``training.uplift_job.train_uplift``): Qini coefficients on the held-out latest campaigns.
3. Scores every customer at the end of the data with the product's prediction assembly
   (``service.prediction.score_frame``: churn probability, LTV, tiers and their actions, lost customers) and the
   uplift bundle's decision (``UpliftBundle.decide`` with the predicted LTV).

Targets (PASS/FAIL each):

* Qini coefficient of the uplift model >= 0.8 x the oracle's, per action, on the held-out contacts;
* at a budget that covers 20% of the active base (the cost of contacting the top 20% of the active base by value
  at risk, each with its tier's action), the incremental retained value by the truth (sum over the contacted of
  the true retention gain of their action x predicted LTV) of the uplift allocation >= 1.5x that of targeting by
  value at risk;
* >= 80% of the true sleeping dogs (alive, and every action lowers their retention) in the top risk decile of the
  active base get ``no_action``;
* no risk tier holds more than 40% of the active base (the lost counted apart, as the report's risk-tiers section
  does), on this base: the demo generator's with past campaigns added.

Value-at-risk targeting gives each customer their tier's action; a tier action the campaigns never tried
(``account_manager_callback``) has no measured effect, so that strategy uses the action with the largest average
effect measured in the past campaigns' control groups for those customers (what a team knowing only averages
would do). Quality numbers: generated data, one seed; the noise of a Qini coefficient is in its interval.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BUDGET_SHARE = 0.2
TARGETS = {"qini_ratio": 0.8, "value_ratio": 1.5, "sleeping_dogs_no_action": 0.8, "max_tier_share": 0.4}


def _line(name: str, ok: bool, detail: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {name:<58} {detail}"


def run(customers: int, seed: int, root: Path) -> dict[str, Any]:  # noqa: PLR0915 - one straight script
    import pandas as pd

    from churnltv.generator import generate
    from churnltv.generator.campaigns import ACTIONS, CONTROL, RetentionCampaigns, true_uplift
    from features.campaign_outcomes import features_at
    from features.dataset_writer import write_dataset
    from features.settings import FeatureSettings
    from features.sources import open_source
    from models.ltv_settings import LtvSettings
    from models.policy_settings import PolicySettings
    from models.retention_decision import allocate_budget
    from models.uplift_bundle import UpliftBundle
    from service.model_set import load_model_set
    from service.prediction import score_frame
    from training import registry
    from training.churn_job import train_churn
    from training.ltv_job import train_ltv
    from training.settings import TrainingSettings
    from training.tracking import use_tracking
    from training.uplift_job import train_uplift

    timings: dict[str, float] = {}
    start = time.perf_counter()
    base = generate(customers, seed=seed, mechanisms=[RetentionCampaigns()])
    data = Path(write_dataset(base.tables, root / "campaigns.duckdb"))
    timings["generate"] = time.perf_counter() - start
    features = FeatureSettings()
    horizon = features.horizon_days
    settings = TrainingSettings(tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts"))
    use_tracking(settings)

    start = time.perf_counter()
    train_churn(str(data), settings, features, n_cutoffs=4, time_budget=10)
    train_ltv(str(data), as_of=None, holdout_days=None, settings=LtvSettings(), training_settings=settings)

    def accept(challenger: Any, champion: Any) -> registry.PromotionDecision:
        return registry.PromotionDecision(promote=True, reason="benchmark setup")

    registry.promote(registry.CHURN_MODEL, decide=accept, force=True)
    registry.promote(registry.LTV_MODEL, decide=accept, force=True)
    timings["churn + ltv"] = time.perf_counter() - start

    def oracle(contacts: pd.DataFrame) -> pd.DataFrame:
        return true_uplift(base.truth, list(contacts["customer_id"]), contacts["contacted_at"], horizon).uplift

    start = time.perf_counter()
    uplift = train_uplift(str(data), settings, features, oracle=oracle)
    timings["uplift train"] = time.perf_counter() - start
    m = uplift.metrics

    start = time.perf_counter()
    policy = PolicySettings()
    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=settings.tracking_uri)
    con = open_source(data).connect()
    end = pd.Timestamp(base.end).normalize()
    frame, _, _ = features_at(con, None, end, features)
    scored = score_frame(models, frame).reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    ltv = np.nan_to_num(scored["predicted_ltv"].to_numpy(np.float64), nan=0.0)
    bundle = UpliftBundle.load(uplift.bundle_dir)
    decided = bundle.decide(frame, ltv, no_action=policy.action_none_key).reset_index(drop=True)
    truth = true_uplift(base.truth, list(frame["customer_id"]), [end] * len(frame), horizon)
    timings["score"] = time.perf_counter() - start

    active = (scored["action_key"] != policy.action_lost_key).to_numpy()
    n_active = int(active.sum())
    true_gain = {a: truth.uplift[f"true_uplift_{a}"].to_numpy(np.float64) for a in ACTIONS}
    costs = bundle.costs

    # measured average effects in the past campaigns (what a team knowing only averages has)
    contacts = base.tables["campaign_contacts"]
    contacts = contacts[contacts["contacted_at"] + pd.Timedelta(days=horizon) < base.end]
    ate = {a: float(m.get(f"test_average_effect_{a}", np.nan)) for a in ACTIONS}
    fallback = max(ate, key=lambda a: -np.inf if np.isnan(ate[a]) else ate[a])

    # value-at-risk targeting: top 20% of the active base by value at risk, each with its tier's action
    var = np.where(active, np.nan_to_num(scored["value_at_risk"].to_numpy(np.float64), nan=-np.inf), -np.inf)
    order = np.argsort(-var, kind="stable")[: round(BUDGET_SHARE * n_active)]
    var_action = np.array([a if a in costs else fallback for a in scored["action_key"].to_numpy(object)[order]])
    budget = float(sum(costs[a] for a in var_action))

    def retained_value(rows: np.ndarray, actions: np.ndarray) -> tuple[float, float]:
        gain = np.array([true_gain[a][i] for i, a in zip(rows, actions, strict=True)]) if rows.size else np.zeros(0)
        value = float(np.sum(gain * ltv[rows]))
        return value, value - float(sum(costs[a] for a in actions))

    var_value, var_net = retained_value(order, var_action)

    # uplift allocation of the same budget, over the active base
    candidates = decided[active].copy()
    candidates["row"] = np.flatnonzero(active)
    chosen = allocate_budget(candidates[candidates["best_action"] != policy.action_none_key], budget)
    up_rows = chosen["row"].to_numpy(np.int64)
    up_value, up_net = retained_value(up_rows, chosen["best_action"].to_numpy(object))

    # sleeping dogs in the top risk decile of the active base
    p = np.where(active, scored["churn_probability"].to_numpy(np.float64), -np.inf)
    top = np.argsort(-p, kind="stable")[: max(1, round(0.1 * n_active))]
    dogs = top[truth.alive[top] & np.all([true_gain[a][top] < 0 for a in ACTIONS], axis=0)]
    dog_share = (
        float((decided["best_action"].to_numpy(object)[dogs] == policy.action_none_key).mean()) if dogs.size else np.nan
    )

    lines = []
    results: dict[str, Any] = {"timings": timings, "n_active": n_active, "n_scored": len(frame)}
    ratios = []
    for a in ACTIONS:
        q, o = m.get(f"test_qini_{a}"), m.get(f"oracle_test_qini_{a}")
        lo, hi = m.get(f"test_qini_{a}_ci_low"), m.get(f"test_qini_{a}_ci_high")
        ratio = (q / o) if q is not None and o else float("nan")
        ratios.append(ratio)
        results[f"qini_{a}"] = {"model": q, "oracle": o, "ratio": ratio, "ci": [lo, hi]}
        lines.append(
            _line(
                f"Qini >= {TARGETS['qini_ratio']} x oracle ({a})",
                bool(ratio >= TARGETS["qini_ratio"]),
                f"model {q:.4f} [{lo:.4f}, {hi:.4f}] / oracle {o:.4f} = {ratio:.2f}; "
                f"churn-probability targeting {m.get(f'baseline_churn_probability_test_qini_{a}', float('nan')):.4f}",
            )
        )
    value_ratio = up_value / var_value if var_value > 0 else float("inf")
    results["budget"] = {
        "budget": budget,
        "var_contacts": int(order.size),
        "uplift_contacts": int(up_rows.size),
        "var_retained_value": var_value,
        "uplift_retained_value": up_value,
        "var_net": var_net,
        "uplift_net": up_net,
        "ratio": value_ratio,
        "uplift_actions": chosen["best_action"].value_counts().to_dict(),
    }
    lines.append(
        _line(
            f"retained value at 20% budget >= {TARGETS['value_ratio']}x value at risk",
            bool(value_ratio >= TARGETS["value_ratio"]),
            f"uplift {up_value:,.0f} ({up_rows.size:,} contacts, net {up_net:,.0f}) vs value at risk "
            f"{var_value:,.0f} ({order.size:,} contacts, net {var_net:,.0f}); budget {budget:,.0f}; "
            f"ratio {value_ratio:.2f}",
        )
    )
    results["sleeping_dogs"] = {"top_decile": int(top.size), "dogs": int(dogs.size), "no_action_share": dog_share}
    lines.append(
        _line(
            f">= {TARGETS['sleeping_dogs_no_action']:.0%} of true sleeping dogs in top risk decile get no_action",
            bool(dog_share >= TARGETS["sleeping_dogs_no_action"]),
            f"{dog_share:.1%} of {dogs.size:,} sleeping dogs among {top.size:,} top-decile customers",
        )
    )
    tiers = scored.loc[active, "risk_tier"].value_counts(normalize=True)
    shares = {str(t): float(tiers.get(t, 0.0)) for t in ("high", "medium", "low", "none")}
    crowded = max((s for t, s in shares.items() if t != "none"), default=0.0)
    results["tier_shares"] = shares
    lines.append(
        _line(
            f"no risk tier holds > {TARGETS['max_tier_share']:.0%} of the active base",
            bool(crowded <= TARGETS["max_tier_share"]),
            ", ".join(f"{t} {s:.1%}" for t, s in shares.items()) + f" of {n_active:,} active",
        )
    )
    results["lines"] = lines
    debug = scored[["customer_id", "churn_probability", "predicted_ltv", "value_at_risk", "risk_tier", "action_key"]]
    debug = debug.assign(
        best_action=decided["best_action"].to_numpy(object),
        alive=truth.alive,
        response=truth.response,
        survival=truth.survival,
        **{f"true_{a}": true_gain[a] for a in ACTIONS},
        **{f"uplift_{a}": decided[f"uplift_{a}"].to_numpy(np.float64) for a in ACTIONS},
    )
    debug.to_parquet(root / "decisions.parquet")
    results["contacts"] = {
        "observable": len(contacts),
        "control": int((contacts["arm"] == CONTROL).sum()),
    }
    con.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the data, models and decisions in this folder.")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(args.customers, args.seed, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-uplift-") as tmp:
            results = run(args.customers, args.seed, Path(tmp))
    print(f"bench_uplift: {args.customers:,} customers (seed {args.seed}), {results['n_active']:,} active at the end")
    print("  timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in results["timings"].items()))
    for line in results["lines"]:
        print(line)


if __name__ == "__main__":
    main()
