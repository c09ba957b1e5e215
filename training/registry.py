"""Registered models, their aliases and promotion.

Every training run registers a new version and gives it the alias ``challenger``. ``promote`` moves the alias
``champion`` to the challenger only when a decision function says so (or when forced), and records the
decision on the challenger's version (tags ``promotion_*`` and the description) so ``churnltv models`` and the
MLflow UI show why a version is, or is not, champion.

All functions use MLflow's current tracking/registry URI (call ``training.tracking.use_tracking`` first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from features.errors import UserInputError

# re-exported (``as``): the registry API names the models it registers; they are defined once, in models/
from models.registry_address import CHURN_MODEL as CHURN_MODEL  # noqa: PLC0414
from models.registry_address import LTV_MODEL as LTV_MODEL  # noqa: PLC0414
from models.registry_address import UPLIFT_MODEL as UPLIFT_MODEL  # noqa: PLC0414

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version with what ``churnltv models`` shows about it."""

    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    metrics: dict[str, float]
    created: dt.datetime
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = ""

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why (the reason is stored on the version)."""

    promote: bool
    reason: str
    challenger_version: str | None = None
    champion_version: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    metric: str = "test_roc_auc"


def _client() -> Any:
    import mlflow
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow.get_tracking_uri(), registry_uri=mlflow.get_registry_uri())


def _info(client: Any, mv: Any) -> ModelVersionInfo:
    metrics: dict[str, float] = {}
    if mv.run_id:
        try:
            metrics = {k: float(v) for k, v in client.get_run(mv.run_id).data.metrics.items()}
        except Exception:  # the run was deleted: the version is still listed, without metrics
            metrics = {}
    created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000.0, tz=dt.UTC).replace(tzinfo=None)
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        aliases=tuple(sorted(getattr(mv, "aliases", []) or [])),
        run_id=mv.run_id or None,
        metrics=metrics,
        created=created,
        tags=dict(mv.tags or {}),
        description=mv.description or "",
        source=mv.source or "",
    )


def register(model_uri: str, name: str, *, alias: str = CHALLENGER, tags: dict[str, str] | None = None) -> str:
    """Register ``model_uri`` as a new version of ``name``, point ``alias`` at it and return the version."""
    import mlflow

    mv = mlflow.register_model(model_uri, name, tags=tags or None)
    client = _client()
    client.set_registered_model_alias(name, alias, str(mv.version))
    return str(mv.version)


def get_version(name: str, alias_or_version: str) -> ModelVersionInfo | None:
    """The version behind an alias (or a version number), or None when there is none."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        if alias_or_version.isdigit():
            mv = client.get_model_version(name, alias_or_version)
        else:
            mv = client.get_model_version_by_alias(name, alias_or_version)
    except MlflowException:
        return None
    return _info(client, mv)


def list_versions(name: str) -> list[ModelVersionInfo]:
    """Every version of ``name`` (newest first) with aliases, run id, run metrics and creation time."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        client.get_registered_model(name)
    except MlflowException:
        return []
    found = client.search_model_versions(f"name = '{name}'")
    # search results may omit aliases in some stores; read each version for the full record
    infos = [_info(client, client.get_model_version(name, str(mv.version))) for mv in found]
    return sorted(infos, key=lambda info: int(info.version), reverse=True)


def promote(
    name: str,
    *,
    decide: Callable[[ModelVersionInfo, ModelVersionInfo | None], PromotionDecision],
    force: bool = False,
) -> PromotionDecision:
    """Move ``champion`` to the current ``challenger`` if ``decide`` approves (or ``force``); record why.

    ``decide(challenger, champion_or_None)`` compares the two (typically by re-scoring both on the challenger's
    holdout window). With ``force`` the comparison still runs, for the record, but cannot block the move; if it
    fails with a ``UserInputError`` the failure is recorded instead.
    """
    challenger = get_version(name, CHALLENGER)
    if challenger is None:
        raise UserInputError(f"no version of {name} has alias {CHALLENGER!r}; train a model first")
    champion = get_version(name, CHAMPION)
    if champion is not None and champion.version == challenger.version:
        return PromotionDecision(
            promote=False,
            reason=f"version {challenger.version} is already {CHAMPION}",
            challenger_version=challenger.version,
            champion_version=champion.version,
        )
    if force:
        try:
            judged = decide(challenger, champion)
            decision = replace(
                judged, promote=True, reason=f"forced with --force; the comparison said: {judged.reason}"
            )
        except UserInputError as err:
            decision = PromotionDecision(promote=True, reason=f"forced with --force; comparison unavailable: {err}")
    else:
        decision = decide(challenger, champion)
    decision = replace(
        decision,
        challenger_version=challenger.version,
        champion_version=champion.version if champion is not None else None,
    )

    client = _client()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    version = challenger.version
    client.set_model_version_tag(name, version, "promotion_decision", "promoted" if decision.promote else "rejected")
    client.set_model_version_tag(name, version, "promotion_reason", decision.reason[:4000])
    client.set_model_version_tag(name, version, "promotion_at", now)
    if decision.challenger_score is not None:
        client.set_model_version_tag(
            name, version, f"promotion_challenger_{decision.metric}", f"{decision.challenger_score:.6f}"
        )
    if decision.champion_score is not None:
        client.set_model_version_tag(
            name, version, f"promotion_champion_{decision.metric}", f"{decision.champion_score:.6f}"
        )
    verdict = "promoted to champion" if decision.promote else "not promoted"
    against = f"against version {champion.version}" if champion is not None else "with no previous champion"
    client.update_model_version(name, version, description=f"{now}: {verdict} {against}: {decision.reason}")
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
        if champion is not None:
            client.set_model_version_tag(name, champion.version, "replaced_by", version)
    return decision
