"""The uplift training job: past campaign contacts -> outcomes and point-in-time features -> one meta-learner per
action and outcome, chosen on a validation split -> honest evaluation on the latest campaigns against random,
churn-probability and value-at-risk targeting (and the oracle on generated data) -> bundle -> MLflow + registry.

Rows and split
--------------
Every contact of a campaign that has a control arm and whose horizon is over is a row (the rest are counted in
the metadata: too recent, or from a campaign without a control group). An action gets a model when it has at
least ``uplift_min_treated`` treated and ``uplift_min_control`` control contacts (control contacts of the
campaigns that used it). The *test* contacts are those of the latest campaigns, taken newest first until they
hold ``uplift_test_share`` of the rows (a time split, like the churn job's; with a single campaign its contacts are
split at random and the metadata says so). Of the rest, a seeded random quarter is the *validation* split on which
each learner (T, X, DR; ``models.uplift_learners``) is scored by its Qini coefficient, separately per action and
outcome; the winner is refitted on training + validation and evaluated once on the test contacts.

Baselines on the same test contacts: random targeting, targeting by churn probability (a LightGBM risk model
fitted on the training contacts' outcomes, whatever their arm) and by value at risk (that probability times the
value proxy of ``models.retention_decision.spend_run_rate``, or the LTV a caller passes). On generated data, the
oracle targets by the true individual effect from the hidden truth.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError
from training.settings import TrainingSettings

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings
    from models.uplift_bundle import UpliftBundle
    from models.uplift_learners import EffectModel, LearnerName, OutcomeKind
    from training.registry import ModelVersionInfo, PromotionDecision
    from training.uplift_evaluation import ActionEvaluation

logger = logging.getLogger(__name__)

TRAIN, VALIDATION, TEST = "train", "validation", "test"
VALIDATION_SHARE = 0.25
MIN_TEST_PER_ARM = 20
OracleFn = Callable[["pd.DataFrame"], "pd.DataFrame"]
"""Given contacts (customer_id, contacted_at, arm), the true uplift per action: columns ``true_uplift_<action>``."""


@dataclass(frozen=True)
class UpliftDataset:
    """Contacts with outcomes and roles, their features, and how the features are encoded."""

    contacts: pd.DataFrame
    features: pd.DataFrame
    spec: FeatureSpec
    names: list[str]
    categories: dict[str, list[str]]
    horizon_days: int
    has_spend: bool
    excluded: dict[str, int] = field(default_factory=dict)

    def matrix(self, rows: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        from models.churn_classifier import feature_matrix

        frame = self.features if rows is None else self.features[rows]
        return feature_matrix(frame, self.names, self.categories)

    @property
    def categorical_positions(self) -> list[int]:
        return [i for i, n in enumerate(self.names) if n in self.categories]


@dataclass(frozen=True)
class UpliftTrainResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    bundle_dir: Path
    evaluation: dict[str, Any]


def _categories(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, list[str]]:
    return {n: sorted({str(v) for v in frame[n].dropna().tolist()}) for n in names}


def load_dataset(con: Any, feature_settings: FeatureSettings, *, test_share: float, seed: int) -> UpliftDataset:
    """Contacts, outcomes, features and the train/validation/test roles (module docstring)."""
    import pandas as pd

    from features.campaign_outcomes import contact_features, contact_outcomes, is_control, read_contacts
    from features.point_in_time import present_columns

    contacts = contact_outcomes(con, read_contacts(con), feature_settings)
    with_control = set(contacts.loc[is_control(contacts["arm"]), "campaign_id"])
    no_control = ~contacts["campaign_id"].isin(with_control)
    excluded = {
        "contacts": len(contacts),
        "not_observable_yet": int((~contacts["observable"]).sum()),
        "campaign_without_control": int(no_control.sum()),
    }
    if no_control.any():
        names = sorted(set(contacts.loc[no_control, "campaign_id"]))
        logger.warning(
            "%d contact(s) of %d campaign(s) without a control arm are not learned from: %s",
            int(no_control.sum()),
            len(names),
            ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""),
        )
    usable = contacts[contacts["observable"] & ~no_control].reset_index(drop=True)
    if usable.empty:
        raise UserInputError(
            f"no usable campaign contact: {excluded['not_observable_yet']} are too recent for a "
            f"{feature_settings.horizon_days}-day outcome and {excluded['campaign_without_control']} belong to "
            "campaigns without a control arm"
        )
    built = contact_features(con, usable, feature_settings)
    frame = built.frame
    string_attrs = [a for a in built.attributes if not pd.api.types.is_numeric_dtype(frame[a])]
    names = [*built.spec.names, *built.attributes]
    categories = _categories(built.frame, [*built.spec.categorical, *string_attrs])
    usable["role"] = _roles(usable, test_share, seed)
    return UpliftDataset(
        contacts=usable,
        features=built.frame,
        spec=built.spec,
        names=names,
        categories=categories,
        horizon_days=feature_settings.horizon_days,
        has_spend="transactions" in present_columns(con),
        excluded=excluded,
    )


def _roles(contacts: pd.DataFrame, test_share: float, seed: int) -> NDArray[np.object_]:
    """Test = the latest campaigns until ``test_share`` of the rows; validation = a random quarter of the rest."""
    rng = np.random.default_rng(seed)
    n = len(contacts)
    role = np.full(n, TRAIN, dtype=object)
    starts = contacts.groupby("campaign_id")["contacted_at"].min().sort_values(ascending=False, kind="stable")
    sizes = contacts["campaign_id"].value_counts()
    if len(starts) >= 2:
        test_campaigns: list[str] = []
        held = 0
        for campaign in starts.index[:-1]:  # the oldest campaign always stays for training
            if held >= test_share * n:
                break
            test_campaigns.append(str(campaign))
            held += int(sizes[campaign])
        role[contacts["campaign_id"].isin(test_campaigns).to_numpy()] = TEST
    else:
        role[rng.random(n) < test_share] = TEST
    rest = np.flatnonzero(role != TEST)
    role[rest[rng.random(rest.size) < VALIDATION_SHARE]] = VALIDATION
    return role


def action_rows(data: UpliftDataset, action: str) -> NDArray[np.bool_]:
    """Contacts treated with ``action`` or in the control group of a campaign that used it."""
    arm = data.contacts["arm"]
    campaigns = set(data.contacts.loc[arm == action, "campaign_id"])
    in_campaign = data.contacts["campaign_id"].isin(campaigns)
    return ((arm == action) | ((arm == "control") & in_campaign)).to_numpy()


def modelled_actions(data: UpliftDataset, min_treated: int, min_control: int) -> tuple[list[str], dict[str, str]]:
    """Actions with enough held-in contacts, and why the others have no model."""
    arms = sorted(a for a in data.contacts["arm"].unique() if a != "control")
    kept: list[str] = []
    skipped: dict[str, str] = {}
    held_in = (data.contacts["role"] != TEST).to_numpy()
    for action in arms:
        rows = action_rows(data, action) & held_in
        treated = int((data.contacts["arm"].to_numpy()[rows] == action).sum())
        control = int(rows.sum()) - treated
        if treated < min_treated or control < min_control:
            skipped[action] = (
                f"{treated} treated and {control} control contact(s) outside the test campaigns; need "
                f"{min_treated} and {min_control}"
            )
        else:
            kept.append(action)
    return kept, skipped


def _fit_choice(
    data: UpliftDataset,
    action: str,
    outcome: str,
    *,
    seed: int,
) -> tuple[EffectModel, dict[str, float]]:
    """Fit every learner on the training rows, keep the best validation Qini, refit it on train + validation."""
    from models.uplift_learners import LEARNERS, fit_effect_model
    from training.uplift_evaluation import qini_coefficient

    rows = action_rows(data, action)
    role = data.contacts["role"].to_numpy()
    treated_all = (data.contacts["arm"] == action).to_numpy()
    column = "retained" if outcome == "retention" else "spend"
    y_all = data.contacts[column].to_numpy(np.float64)
    kind: OutcomeKind = "binary" if outcome == "retention" else "continuous"
    if outcome == "spend":  # a few very large orders would dominate least squares: cap at the 99.5th percentile
        cap = float(np.nanquantile(y_all[rows], 0.995)) if rows.any() else 0.0
        y_all = np.minimum(y_all, cap)

    def fit(learner: LearnerName, rows_used: NDArray[np.bool_]) -> EffectModel:
        return fit_effect_model(
            learner,
            data.matrix(rows_used),
            treated_all[rows_used],
            y_all[rows_used],
            kind=kind,
            feature_names=data.names,
            categorical=data.categorical_positions,
            seed=seed,
        )

    train, val = rows & (role == TRAIN), rows & (role == VALIDATION)
    scores: dict[str, float] = {}
    usable_val = val.any() and treated_all[val].any() and (~treated_all[val]).any()
    if usable_val:
        m_val = data.matrix(val)
        for learner in LEARNERS:
            model = fit(learner, train)
            scores[learner] = qini_coefficient(y_all[val], treated_all[val], model.effect(m_val))
            logger.info("%s / %s: %s validation Qini %.5f", action, outcome, learner, scores[learner])
        best: LearnerName = max(LEARNERS, key=lambda k: scores[k])  # ties: the first in LEARNERS order
    else:
        best = "x_learner"
        logger.info("%s / %s: no usable validation split; using %s", action, outcome, best)
    held_in = rows & (role != TEST)
    final = fit(best, held_in)
    final.info["validation_qini"] = scores
    return final, scores


def _risk_model(data: UpliftDataset, seed: int) -> Any:
    """A LightGBM churn-risk model on the held-in contacts' outcomes (every arm): the churn-probability baseline."""
    import lightgbm as lgb

    held_in = (data.contacts["role"] != TEST).to_numpy()
    y = 1.0 - data.contacts["retained"].to_numpy(np.float64)[held_in]
    model = lgb.LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=50,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        num_threads=1,
        verbose=-1,
    )
    model.fit(data.matrix(held_in), y.astype(int), categorical_feature=data.categorical_positions or "auto")
    return model


def evaluate_on_test(
    data: UpliftDataset,
    bundle: UpliftBundle,
    *,
    seed: int,
    n_boot: int,
    risk: Any,
    value: NDArray[np.float64] | None = None,
    oracle: pd.DataFrame | None = None,
) -> dict[str, dict[str, ActionEvaluation]]:
    """action -> outcome -> evaluation of every strategy on the action's test contacts."""
    from models.retention_decision import spend_run_rate
    from models.uplift_bundle import spend_uplift_column, uplift_column
    from training.uplift_evaluation import evaluate_action

    role = data.contacts["role"].to_numpy()
    out: dict[str, dict[str, ActionEvaluation]] = {}
    values = spend_run_rate(data.features) if value is None else value
    for action, models in bundle.actions.items():
        rows = action_rows(data, action) & (role == TEST)
        treated = (data.contacts["arm"] == action).to_numpy()[rows]
        if treated.sum() < MIN_TEST_PER_ARM or (~treated).sum() < MIN_TEST_PER_ARM:
            n_t, n_c = int(treated.sum()), int((~treated).sum())
            logger.warning("%s: too few test contacts to evaluate (%d treated, %d control)", action, n_t, n_c)
            continue
        matrix = data.matrix(rows)
        effects = bundle.effects_from_matrix(matrix)
        p_churn = risk.predict_proba(matrix)[:, 1]
        rng = np.random.default_rng(seed)
        base = {
            "random": rng.random(int(rows.sum())),
            "churn_probability": p_churn,
            "value_at_risk": p_churn * values[rows],
        }
        out[action] = {}
        for outcome, column in (("retention", uplift_column(action)), ("spend", spend_uplift_column(action))):
            if column not in effects:
                continue
            scores = {"model": effects[column], **base}
            if oracle is not None and f"true_uplift_{action}" in oracle.columns and outcome == "retention":
                scores["oracle"] = oracle[f"true_uplift_{action}"].to_numpy(np.float64)[rows]
            y = data.contacts["retained" if outcome == "retention" else "spend"].to_numpy(np.float64)[rows]
            out[action][outcome] = evaluate_action(
                action, y, treated, scores, outcome_name=outcome, n_boot=n_boot, seed=seed
            )
        del models
    return out


def summary_metrics(evaluations: dict[str, dict[str, ActionEvaluation]]) -> dict[str, float]:
    """Flat MLflow metrics (names in the module docstring of training/cli_uplift.py)."""
    metrics: dict[str, float] = {}
    weights: list[float] = []
    qinis: list[float] = []
    for action, by_outcome in evaluations.items():
        for outcome, ev in by_outcome.items():
            suffix = action if outcome == "retention" else f"{action}_spend"
            for name, strategy in ev.strategies.items():
                prefix = "test" if name == "model" else ("oracle_test" if name == "oracle" else f"baseline_{name}_test")
                metrics[f"{prefix}_qini_{suffix}"] = strategy.qini_coefficient
                metrics[f"{prefix}_qini_{suffix}_ci_low"] = strategy.qini_interval[0]
                metrics[f"{prefix}_qini_{suffix}_ci_high"] = strategy.qini_interval[1]
                for k, v in strategy.uplift_at.items():
                    metrics[f"{prefix}_uplift_at_{k}_{suffix}"] = v
            metrics[f"test_average_effect_{suffix}"] = ev.average_effect
            if outcome == "retention":
                model_q = ev.strategies["model"].qini_coefficient
                if "oracle" in ev.strategies and ev.strategies["oracle"].qini_coefficient > 0:
                    metrics[f"test_qini_ratio_to_oracle_{action}"] = model_q / ev.strategies["oracle"].qini_coefficient
                weights.append(ev.n_treated + ev.n_control)
                qinis.append(model_q)
    if qinis:
        metrics["test_qini"] = float(np.average(qinis, weights=weights))
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def train_uplift(
    source_url: str,
    settings: TrainingSettings,
    feature_settings: FeatureSettings,
    *,
    oracle: OracleFn | None = None,
    on_step: Callable[[str], None] | None = None,
) -> UpliftTrainResult:
    """Train, evaluate, log and register the uplift model from ``source_url`` (see module docstring)."""
    import pandas as pd

    from features.labels import data_time_range
    from features.source_url import public_url
    from features.sources import open_source
    from models.churn_bundle import library_versions
    from models.uplift_bundle import ActionModels, UpliftBundle
    from training.churn_job import step

    timings: dict[str, float] = {}
    job_start = time.perf_counter()
    seed = settings.random_seed

    def announce(name: str) -> Any:
        if on_step is not None:
            on_step(name)
        return step(name, timings)

    with announce("open data"):
        con = open_source(source_url).connect()
        data_start, data_end = data_time_range(con)
    with announce("contacts, outcomes and features"):
        data = load_dataset(con, feature_settings, test_share=settings.uplift_test_share, seed=seed)
        actions, skipped = modelled_actions(data, settings.uplift_min_treated, settings.uplift_min_control)
        for action, why in skipped.items():
            logger.warning("action %s gets no uplift model: %s", action, why)
        if not actions:
            raise UserInputError(
                "no action has enough campaign contacts for an uplift model: "
                + "; ".join(f"{a}: {w}" for a, w in skipped.items())
                + " (settings CHURNLTV_UPLIFT_MIN_TREATED / CHURNLTV_UPLIFT_MIN_CONTROL)"
            )
        roles = data.contacts["role"].value_counts().to_dict()
        logger.info("contacts: %s; actions modelled: %s", roles, ", ".join(actions))
    models: dict[str, ActionModels] = {}
    selection: dict[str, dict[str, dict[str, float]]] = {}
    with announce("fit meta-learners per action"):
        for action in actions:
            retention, r_scores = _fit_choice(data, action, "retention", seed=seed)
            spend = None
            s_scores: dict[str, float] = {}
            if data.has_spend:
                spend, s_scores = _fit_choice(data, action, "spend", seed=seed)
            treated = data.contacts["arm"] == action
            cost = float(np.nan_to_num(data.contacts.loc[treated, "cost"].mean(), nan=0.0))
            counts = {
                "treated": int(treated.sum()),
                "control": int((action_rows(data, action) & ~treated.to_numpy()).sum()),
            }
            models[action] = ActionModels(action, retention, spend, cost, counts)
            selection[action] = {"retention": r_scores, "spend": s_scores}
    metadata: dict[str, Any] = {
        "kind": "uplift",
        "created_at": pd.Timestamp.now("UTC").tz_localize(None).isoformat(timespec="seconds"),
        "source_url": public_url(source_url),
        "data_range": {"start": str(data_start), "end": str(data_end)},
        "horizon_days": data.horizon_days,
        "churn_definition": feature_settings.churn_definition,
        "feature_settings": feature_settings.summary(),
        "attributes": [n for n in data.names if n.startswith("attr_")],
        "contacts": {**data.excluded, **{f"rows_{k}": int(v) for k, v in roles.items()}},
        "campaigns": {
            role: sorted(set(data.contacts.loc[data.contacts["role"] == role, "campaign_id"]))
            for role in (TRAIN, VALIDATION, TEST)
        },
        "actions_skipped": skipped,
        "learner_selection": selection,
        "seed": seed,
        "library_versions": {**library_versions(), **_econml_version()},
    }
    bundle = UpliftBundle(data.names, data.categories, models, data.spec, metadata)
    with announce("evaluate on test campaigns"):
        risk = _risk_model(data, seed)
        truth = oracle(data.contacts) if oracle is not None else None
        evaluations = evaluate_on_test(
            data, bundle, seed=seed, n_boot=settings.uplift_bootstrap, risk=risk, oracle=truth
        )
        metrics = summary_metrics(evaluations)
        bundle.metadata["metrics"] = metrics
    evaluation = {a: {o: ev.to_dict() for o, ev in by.items()} for a, by in evaluations.items()}
    with announce("log to MLflow and register"):
        run_id, version, bundle_dir = _log_and_register(settings, bundle, data, metrics, evaluation, job_start)
    metrics["train_seconds"] = time.perf_counter() - job_start
    return UpliftTrainResult(run_id, version, metrics, bundle_dir, evaluation)


def _econml_version() -> dict[str, str]:
    from importlib.metadata import version

    return {"econml": version("econml")}


def _holdout_keys(data: UpliftDataset) -> list[list[str]]:
    test = data.contacts[data.contacts["role"] == TEST]
    return [[str(c), str(k)] for c, k in zip(test["campaign_id"], test["customer_id"], strict=True)]


def _log_and_register(  # noqa: PLR0917 - one call site, every part of the run
    settings: TrainingSettings,
    bundle: UpliftBundle,
    data: UpliftDataset,
    metrics: dict[str, float],
    evaluation: dict[str, Any],
    job_start: float,
) -> tuple[str, str, Path]:
    import mlflow

    from training import registry
    from training.tracking import experiment_id, log_bundle_model, use_tracking

    use_tracking(settings)
    exp_id = experiment_id(settings.uplift_experiment, settings)
    workdir = Path(tempfile.mkdtemp(prefix="churnltv-uplift-"))
    with mlflow.start_run(experiment_id=exp_id) as run:
        bundle_dir = bundle.save(workdir / "bundle")
        # which contacts the evaluation used: the promotion gate re-scores both models on exactly these
        (bundle_dir / "holdout.json").write_text(json.dumps({"contacts": _holdout_keys(data)}), encoding="utf-8")
        meta = bundle.metadata
        mlflow.set_tags({"churnltv.kind": "uplift", "churnltv.source": meta["source_url"][:500]})
        learners = {
            f"learner_{a}_{o}": (m.retention if o == "retention" else m.spend).learner  # type: ignore[union-attr]
            for a, m in bundle.actions.items()
            for o in ("retention", "spend")
            if o == "retention" or m.spend is not None
        }
        mlflow.log_params(
            {
                "horizon_days": meta["horizon_days"],
                "actions": ",".join(bundle.actions)[:500],
                "test_campaigns": ",".join(meta["campaigns"][TEST])[:500],
                "n_features": len(data.names),
                "attributes": ",".join(meta["attributes"])[:500] or "none",
                **learners,
            }
        )
        mlflow.log_metrics(metrics)
        logged = {"evaluation": evaluation, "selection": meta["learner_selection"]}
        mlflow.log_dict(_jsonable(logged), "evaluation.json")
        info = log_bundle_model(Path(__file__).resolve().parents[1] / "models" / "uplift_pyfunc.py", bundle_dir)
        mlflow.log_metric("train_seconds", time.perf_counter() - job_start)
        tags = {"run_id": run.info.run_id, "source": meta["source_url"][:250]}
        version = registry.register(info.model_uri, registry.UPLIFT_MODEL, tags=tags)
    logger.info("registered %s version %s as challenger (run %s)", registry.UPLIFT_MODEL, version, run.info.run_id)
    return str(run.info.run_id), version, bundle_dir


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: float(o) if isinstance(o, np.floating) else str(o)))


# -- promotion ---------------------------------------------------------------------------------------------
def _load_version(info: ModelVersionInfo) -> UpliftBundle:
    import mlflow

    from models.bundle_source import resolve_bundle
    from models.uplift_bundle import UpliftBundle

    path = resolve_bundle(info.model_uri, default_name=info.name, tracking_uri=mlflow.get_tracking_uri())
    return UpliftBundle.load(path)


def holdout_dataset(bundle: UpliftBundle) -> UpliftDataset:
    """Rebuild the bundle's test contacts (outcomes + features) from its recorded source and settings."""
    import pandas as pd

    from features.settings import FeatureSettings
    from features.sources import open_source

    meta = bundle.metadata
    if bundle.path is None or not (bundle.path / "holdout.json").is_file():
        raise UserInputError("the uplift bundle records no holdout contacts; retrain it with this version")
    try:
        source, fs = meta["source_url"], FeatureSettings(**meta["feature_settings"])
    except KeyError as err:
        raise UserInputError(f"bundle metadata has no {err.args[0]!r}; cannot rebuild its holdout") from None
    keys = json.loads((bundle.path / "holdout.json").read_text(encoding="utf-8"))["contacts"]
    data = load_dataset(open_source(source).connect(), fs, test_share=0.5, seed=0)
    wanted = pd.MultiIndex.from_tuples([tuple(k) for k in keys])
    present = pd.MultiIndex.from_arrays([data.contacts["campaign_id"], data.contacts["customer_id"]]).isin(wanted)
    contacts = data.contacts.assign(role=np.where(present, TEST, TRAIN))
    return UpliftDataset(
        contacts, data.features, data.spec, data.names, data.categories, data.horizon_days, data.has_spend
    )


def _test_qini(data: UpliftDataset, bundle: UpliftBundle, actions: Sequence[str], seed: int) -> tuple[float, int]:
    """Contact-weighted mean Qini of ``bundle`` over ``actions`` on ``data``'s test contacts."""
    from models.uplift_bundle import uplift_column
    from training.uplift_evaluation import qini_coefficient

    role = data.contacts["role"].to_numpy()
    qinis, weights = [], []
    for action in actions:
        rows = action_rows(data, action) & (role == TEST)
        if not rows.any():
            continue
        treated = (data.contacts["arm"] == action).to_numpy()[rows]
        view = UpliftDataset(
            data.contacts, data.features, data.spec, bundle.names, bundle.categories, data.horizon_days, data.has_spend
        )
        effect = bundle.effects_from_matrix(view.matrix(rows))[uplift_column(action)]
        qinis.append(qini_coefficient(data.contacts["retained"].to_numpy(np.float64)[rows], treated, effect))
        weights.append(int(rows.sum()))
    del seed
    if not qinis:
        return float("nan"), 0
    return float(np.average(qinis, weights=weights)), int(sum(weights))


def holdout_decider(
    margin: float, *, seed: int = 7
) -> Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision]:
    """A ``decide`` for ``registry.promote``: both models' Qini on the challenger's test contacts."""
    from training.registry import PromotionDecision

    def decide(challenger: ModelVersionInfo, champion: ModelVersionInfo | None) -> PromotionDecision:
        new = _load_version(challenger)
        data = holdout_dataset(new)
        q_new, n = _test_qini(data, new, new.action_keys, seed)
        where = f"the challenger's {n} held-out contacts"
        if champion is None:
            reason = f"no champion yet; challenger Qini {q_new:.5f} on {where}"
            return PromotionDecision(True, reason, challenger_score=q_new, metric="test_qini")
        old = _load_version(champion)
        common = [a for a in new.action_keys if a in old.actions]
        if not common:
            return PromotionDecision(
                False,
                f"cannot compare: champion v{champion.version} models none of the challenger's actions "
                f"({', '.join(new.action_keys)}). Use --force to promote anyway.",
                challenger_score=q_new,
                metric="test_qini",
            )
        q_new_c, n_c = _test_qini(data, new, common, seed)
        missing = [n for n in old.names if n not in data.features.columns]
        if missing:
            return PromotionDecision(
                False,
                f"cannot compare on the same holdout: champion v{champion.version} needs feature(s) absent from the "
                f"challenger's data: {', '.join(missing[:8])}. Use --force to promote anyway.",
                challenger_score=q_new_c,
                metric="test_qini",
            )
        q_old, _ = _test_qini(data, old, common, seed)
        gain = q_new_c - q_old
        verdict = gain >= margin
        reason = (
            f"challenger v{challenger.version} Qini {q_new_c:.5f} vs champion v{champion.version} {q_old:.5f} on "
            f"{n_c} held-out contacts of {', '.join(common)}: gain {gain:+.5f} {'>=' if verdict else '<'} margin "
            f"{margin:.5f}"
        )
        return PromotionDecision(verdict, reason, challenger_score=q_new_c, champion_score=q_old, metric="test_qini")

    return decide
