"""LTV scoring speed: 1M customers (P(alive), expected purchases, P(no purchase), CLV with interval), one customer,
and the BG/NBD fit on CDNOW, against lifetimes' own functions in the same run.

Customers are drawn on the day grid (recency and T are whole days / 7), as every summary built by
``features.btyd_summary`` is; a continuous-T run (no repeated (x, T) pairs, the worst case) is measured too.
Targets (issue 5): 1M customers <= 5 s, one customer <= 0.1 ms, BG/NBD fit on CDNOW <= 1 s.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import block_diag

from benchmarks.measure import Measurement, report, timed
from features.btyd_summary import btyd_summary
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.customer_value import BTYD_PARAMS, LtvPredictor
from models.gamma_gamma import GammaGammaModel
from models.ltv_bundle import save_ltv_bundle
from models.parameter_draws import ParameterDraws

N = 1_000_000
SUBSAMPLE = 20_000
SETTINGS = {
    "prediction_horizon_days": 30,
    "horizon_months": 12,
    "discount_rate": 0.01,
    "discount_period": "monthly",
    "interval_level": 0.9,
}


def _cdnow() -> pd.DataFrame:
    import lifetimes

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["oid", "customer_id", "date", "qty", "amount"], dtype=str)
    raw["occurred_at"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["amount"] = raw["amount"].astype(float)
    return raw


def _customers(n: int, seed: int, *, day_grid: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    T_days = rng.integers(1, 730, n).astype(float) if day_grid else rng.uniform(1, 730, n)
    x = rng.poisson(1.5, n).astype(float)
    frac = rng.uniform(0, 1, n)
    t_x_days = np.where(x > 0, np.floor(frac * T_days) if day_grid else frac * T_days, 0.0)
    m = np.where(x > 0, rng.gamma(3.0, 8.0, n), np.nan)
    return x, t_x_days / 7.0, T_days / 7.0, m


def main() -> None:
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    summary = btyd_summary(_cdnow(), pd.Timestamp("1997-10-01"), TimeUnit.WEEK)
    x0, r0, T0 = summary["frequency"], summary["recency"], summary["T"]
    fit_ours, bg = timed("BG/NBD fit on CDNOW (ours, incl. Hessian)", lambda: BetaGeoModel().fit(x0, r0, T0))
    fit_lt, _ = timed("BG/NBD fit on CDNOW (lifetimes)", lambda: BetaGeoFitter().fit(x0, r0, T0))
    gg = GammaGammaModel().fit(x0, summary["monetary_value"])
    estimate = np.array([*bg.params_.values(), *gg.params_.values()])
    draws = ParameterDraws.from_log_normal(
        BTYD_PARAMS, estimate, block_diag(bg.log_params_covariance_, gg.log_params_covariance_), 200, 7
    )
    bundle = save_ltv_bundle(Path(tempfile.mkdtemp()) / "bundle", bg, gg, draws, {"settings": SETTINGS})
    predictor = LtvPredictor.from_bundle(bundle)

    x, t_x, T, m = _customers(N, 1, day_grid=True)
    ours_1m, out = timed(f"{N:,} customers, day grid (ours, with interval)", lambda: predictor.predict(x, t_x, T, m))
    xc, txc, Tc, mc = _customers(100_000, 2, day_grid=False)
    ours_cont, _ = timed("100,000 customers, continuous T (ours)", lambda: predictor.predict(xc, txc, Tc, mc))

    # lifetimes on a subsample: P(alive), expected purchases in 30 days, 12-month CLV (no interval)
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(bg.params_)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(gg.params_)
    sl = slice(0, SUBSAMPLE)
    xs, txs, Ts, ms = (pd.Series(a[sl]) for a in (x, t_x, T, np.nan_to_num(m)))

    def lifetimes_run() -> None:
        bgf.conditional_probability_alive(xs.to_numpy(), txs.to_numpy(), Ts.to_numpy())
        bgf.conditional_expected_number_of_purchases_up_to_time(30 / 7, xs, txs, Ts)
        ggf.customer_lifetime_value(bgf, xs, txs, Ts, ms, time=12, discount_rate=0.01, freq="W")

    lt_sub, _ = timed(f"{SUBSAMPLE:,} customers (lifetimes, no interval)", lifetimes_run)
    ours_sub, _ = timed(
        f"{SUBSAMPLE:,} customers (ours, with interval)", lambda: predictor.predict(*(a[sl] for a in (x, t_x, T, m)))
    )
    lt_per_1m = Measurement(f"lifetimes extrapolated to {N:,}", lt_sub.seconds * N / SUBSAMPLE)

    one = [np.array([v]) for v in (2.0, 30.43, 38.86, 22.35)]
    predictor.predict(*one)
    reps = 2000
    start = time.perf_counter()
    for _ in range(reps):
        predictor.predict(*one)
    single = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(200):
        bgf.conditional_probability_alive(2.0, 30.43, 38.86)
        bgf.conditional_expected_number_of_purchases_up_to_time(30 / 7, 2.0, 30.43, 38.86)
        ggf.customer_lifetime_value(
            bgf,
            pd.Series([2.0]),
            pd.Series([30.43]),
            pd.Series([38.86]),
            pd.Series([22.35]),
            time=12,
            discount_rate=0.01,
            freq="W",
        )
    single_lt = (time.perf_counter() - start) / 200

    rows = [
        fit_ours.line(),
        fit_lt.line(),
        ours_1m.line(lt_per_1m),
        lt_per_1m.line(),
        ours_sub.line(lt_sub),
        lt_sub.line(),
        ours_cont.line(),
        f"one customer (ours, with interval)                 {single * 1e3:9.3f} ms   "
        f"{single_lt / single:7.2f}x faster than lifetimes ({single_lt * 1e3:.3f} ms)",
        f"mean P(alive) {float(np.mean(out['p_alive'])):.3f}, mean CLV {float(np.mean(out['predicted_ltv'])):.2f}",
    ]
    report(
        "ltv",
        rows,
        {
            "fit_cdnow_seconds": round(fit_ours.seconds, 4),
            "predict_1m_seconds": round(ours_1m.seconds, 3),
            "predict_100k_continuous_T_seconds": round(ours_cont.seconds, 3),
            "single_customer_ms": round(single * 1e3, 4),
            "lifetimes_1m_extrapolated_seconds": round(lt_per_1m.seconds, 2),
            "speedup_vs_lifetimes": round(lt_sub.seconds / ours_sub.seconds, 1),
        },
    )


if __name__ == "__main__":
    main()
