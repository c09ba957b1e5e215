"""The models a server or a batch run predicts with: churn bundle + LTV bundle + policy, loaded together.

A ``ModelSet`` is immutable. The API holds one in a single reference and swaps it whole on reload,
so a request always sees one consistent pair of versions; a bundle that fails to load or fails
its feature-spec check never replaces the one serving.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import UserInputError

if TYPE_CHECKING:
    from models.churn_bundle import ChurnBundle
    from models.customer_value import LtvPredictor
    from models.policy_settings import PolicySettings

log = logging.getLogger(__name__)

CHURN_MODEL = "churnltv-churn"
LTV_MODEL = "churnltv-ltv"


@dataclass(frozen=True)
class LoadedModel:
    """Where one bundle came from: registry name/version/aliases, or a local path."""

    name: str
    ref: str
    version: str | None
    aliases: tuple[str, ...]
    path: Path
    metadata: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ref": self.ref,
            "version": self.version,
            "aliases": list(self.aliases),
            "trained_at": self.metadata.get("trained_at"),
            "data_range": self.metadata.get("data_range"),
            "metrics": self.metadata.get("metrics", {}),
        }


@dataclass(frozen=True)
class ModelSet:
    churn: ChurnBundle
    ltv: LtvPredictor | None
    churn_info: LoadedModel
    ltv_info: LoadedModel | None
    policy: PolicySettings
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def versions(self) -> dict[str, str | None]:
        return {
            "churn": self.churn_info.version or self.churn_info.ref,
            "ltv": None if self.ltv_info is None else (self.ltv_info.version or self.ltv_info.ref),
        }


def _registry_version(ref: str, name: str, tracking_uri: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Map an alias/``models:/`` reference to ``(models:/name/version, version, aliases)``; paths pass through."""
    import re

    if Path(ref).is_dir() or ("/" in ref and not ref.startswith("models:/")):
        return ref, None, ()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from models.bundle_source import absolute_tracking_uri

    match = re.match(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$", ref)
    if match:
        name = match.group("name")
        alias, version = match.group("alias"), match.group("version")
    else:
        alias, version = ref, None
    uri = absolute_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, str(version))
    except MlflowException:
        what = f"alias {alias!r}" if alias else f"version {version}"
        hint = "run `churnltv promote`" if alias == "champion" else "train a model first (`churnltv train`)"
        raise UserInputError(f"no version of {name} has {what}; {hint} (registry: {uri})") from None
    return f"models:/{name}/{mv.version}", str(mv.version), tuple(getattr(mv, "aliases", ()) or ())


def load_model_set(
    *,
    churn_ref: str,
    ltv_ref: str | None,
    tracking_uri: str,
    policy: PolicySettings | None = None,
    cache_dir: Path | None = None,
) -> ModelSet:
    """Resolve and load both bundles; raises ``UserInputError`` naming the bundle that failed and why."""
    from models.bundle_source import resolve_bundle
    from models.churn_bundle import ChurnBundle
    from models.policy_settings import PolicySettings

    def fetch(ref: str, name: str) -> tuple[Path, LoadedModel]:
        pinned, version, aliases = _registry_version(ref, name, tracking_uri)
        dst = None if cache_dir is None else cache_dir / f"{name}-{version or 'local'}"
        path = resolve_bundle(pinned, default_name=name, tracking_uri=tracking_uri, dst_dir=dst)
        import json

        meta_file = path / "metadata.json"
        metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        return path, LoadedModel(name, ref, version, aliases, path, metadata)

    churn_path, churn_info = fetch(churn_ref, CHURN_MODEL)
    try:
        churn = ChurnBundle.load(churn_path)
    except UserInputError:
        raise
    except Exception as err:  # a corrupt bundle is a user-fixable deployment problem, not a crash
        raise UserInputError(f"churn bundle {churn_ref} ({churn_path}) cannot be loaded: {err}") from err
    ltv = None
    ltv_info = None
    if ltv_ref:
        from models.customer_value import LtvPredictor

        ltv_path, ltv_info = fetch(ltv_ref, LTV_MODEL)
        try:
            ltv = LtvPredictor.from_bundle(ltv_path)
        except UserInputError:
            raise
        except Exception as err:
            raise UserInputError(f"LTV bundle {ltv_ref} ({ltv_path}) cannot be loaded: {err}") from err
    log.info(
        "loaded churn %s (version %s) and ltv %s (version %s)",
        churn_ref,
        churn_info.version,
        ltv_ref,
        None if ltv_info is None else ltv_info.version,
    )
    return ModelSet(churn, ltv, churn_info, ltv_info, policy or PolicySettings())
