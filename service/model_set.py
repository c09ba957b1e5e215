"""The models a server or a batch run predicts with: churn bundle + LTV bundle + policy, loaded together.

The uplift champion (``churnltv-uplift``, docs/RETENTION_DECISIONS.md) joins them when the registry has one: the
decisions are then ranked by uplift x value (``decision_basis`` = ``uplift``), else by risk x value.

A ``ModelSet`` is immutable. The API holds one in a single reference and swaps it whole on reload,
so a request always sees one consistent pair of versions; a bundle that fails to load or fails
its feature-spec check never replaces the one serving.

Registry bundles are downloaded into a temporary directory. The API loads with ``keep_files=False``: the
directory is removed as soon as both bundles are in memory (a reload every 2 s used to leave 35 GB a day of
``/tmp`` copies). Batch scoring needs the files for its worker processes and Spark executors, so by default the
set keeps its directory and it is removed when the set is garbage-collected or the process exits. Errors name the
registry version (``models:/churnltv-churn/3``), never the temporary copy.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import UserInputError
from models.registry_address import CHURN_MODEL, LTV_MODEL, UPLIFT_MODEL

if TYPE_CHECKING:
    from features.feature_spec import FeatureSpec
    from models.churn_bundle import ChurnBundle
    from models.customer_value import LtvPredictor
    from models.policy_settings import PolicySettings
    from models.uplift_bundle import UpliftBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """Where one bundle came from: registry name/version/aliases, or a local path."""

    name: str
    ref: str
    version: str | None
    aliases: tuple[str, ...]
    path: Path | None
    """The bundle directory on disk; None once a registry download was removed (``keep_files=False``)."""
    metadata: dict[str, Any]
    registered_at: str | None = None

    def files(self) -> Path:
        """The bundle directory, for code that hands the files to other processes (workers, Spark executors)."""
        if self.path is None or not self.path.is_dir():
            raise UserInputError(
                f"the files of {self.name} {self.ref} (version {self.version}) were removed after loading; "
                "load the models with keep_files=True to score in other processes"
            )
        return self.path

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this bundle (schema ``service.schemas.ModelInfo``).

        The two bundle kinds record their history under different keys (training/churn_job.py,
        training/ltv_job.py), so they are read into one shape here:

        * churn: ``created_at``; ``data_range`` {start, end}; holdout = the test cutoff and the
          ``horizon_days`` after it; ``metrics`` (measured on that holdout);
        * LTV: ``created_at`` (older bundles: the registry version's creation time); the data run from
          the first purchase (``as_of - diagnostics.history_days``) to ``as_of``; holdout =
          [``calibration_end``, ``as_of``); ``holdout_metrics``.
        """
        meta = self.metadata
        if meta.get("kind") == "churn" or "data_range" in meta:
            data_range = _range(meta.get("data_range", {}).get("start"), meta.get("data_range", {}).get("end"))
            test_cutoff = (meta.get("cutoffs") or {}).get("test")
            horizon = meta.get("horizon_days")
            holdout = _range(test_cutoff, _plus_days(test_cutoff, horizon))
            metrics = meta.get("metrics", {})
        else:
            as_of = meta.get("as_of")
            history = (meta.get("diagnostics") or {}).get("history_days")
            data_range = _range(_plus_days(as_of, None if history is None else -float(history)), as_of)
            holdout = _range(meta.get("calibration_end"), as_of)
            metrics = meta.get("holdout_metrics", {})
        return {
            "name": self.name,
            "ref": self.ref,
            "version": self.version,
            "aliases": list(self.aliases),
            "created_at": _iso(meta.get("created_at")) or self.registered_at,
            "data_range": data_range,
            "holdout": holdout,
            "holdout_metrics": _numbers(metrics),
        }


def _iso(value: object) -> str | None:
    """A timestamp from a bundle's metadata as ISO 8601 (None when absent or unreadable)."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        return None


def _plus_days(value: object, days: object) -> str | None:
    start = _iso(value)
    if start is None or not isinstance(days, int | float):
        return None
    return (dt.datetime.fromisoformat(start) + dt.timedelta(days=float(days))).isoformat()


def _range(start: object, end: object) -> dict[str, str | None] | None:
    first, last = _iso(start), _iso(end)
    return None if first is None and last is None else {"start": first, "end": last}


def _numbers(metrics: object) -> dict[str, float]:
    """The finite numeric entries of a metrics mapping (a metric is a number; NaN is not JSON)."""
    if not isinstance(metrics, dict):
        return {}
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[str(key)] = float(value)
    return out


@dataclass(frozen=True)
class ModelSet:
    churn: ChurnBundle
    ltv: LtvPredictor | None
    churn_info: LoadedModel
    ltv_info: LoadedModel | None
    policy: PolicySettings
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    downloads: tempfile.TemporaryDirectory[str] | None = field(default=None, compare=False, repr=False)
    """The registry downloads the bundle paths point into (kept files); removed with the set or at exit."""
    uplift: UpliftBundle | None = None
    """The uplift model deciding whom to contact with which action; None: decisions by risk x value."""
    uplift_info: LoadedModel | None = None

    @property
    def uplift_version(self) -> str | None:
        info = self.uplift_info
        return None if info is None else (info.version or info.ref)

    @property
    def versions(self) -> dict[str, str | None]:
        return {
            "churn": self.churn_info.version or self.churn_info.ref,
            "ltv": None if self.ltv_info is None else (self.ltv_info.version or self.ltv_info.ref),
        }


def model_payload(
    models: ModelSet, churn_file: str, ltv_file: str | None, uplift_file: str | None = None
) -> dict[str, Any]:
    """Everything another process needs to rebuild ``models``: bundle names, registry info, policy, reason method.

    Plain JSON-able data (no pickled models): Spark executors and the local engine's worker processes rebuild the
    set from the plain bundle files with ``models_from_payload``. ``uplift_file`` names the uplift bundle for
    ``locate`` (default: its local directory, which worker processes on this machine read as it is).
    """

    def info(loaded: LoadedModel) -> dict[str, Any]:
        return {
            "name": loaded.name,
            "ref": loaded.ref,
            "version": loaded.version,
            "aliases": list(loaded.aliases),
            "metadata": loaded.metadata,
        }

    return {
        "churn_file": churn_file,
        "ltv_file": ltv_file,
        "churn_info": info(models.churn_info),
        "ltv_info": None if models.ltv_info is None else info(models.ltv_info),
        "policy": models.policy.model_dump(mode="json"),
        "reason_method": models.churn.reason_method,  # the other process explains rows as this one does
        "uplift_file": None if models.uplift_info is None else (uplift_file or str(models.uplift_info.files())),
        "uplift_info": None if models.uplift_info is None else info(models.uplift_info),
    }


def models_from_payload(payload: dict[str, Any], locate: Any) -> ModelSet:
    """Rebuild a ModelSet from ``model_payload`` output; ``locate(name) -> path`` finds the bundle directories."""
    from models.churn_bundle import ChurnBundle
    from models.policy_settings import PolicySettings

    churn_path = Path(locate(payload["churn_file"]))
    ci = payload["churn_info"]
    churn_info = LoadedModel(ci["name"], ci["ref"], ci["version"], tuple(ci["aliases"]), churn_path, ci["metadata"])
    ltv = None
    ltv_info = None
    if payload["ltv_file"]:
        from models.customer_value import LtvPredictor

        ltv_path = Path(locate(payload["ltv_file"]))
        li = payload["ltv_info"]
        ltv_info = LoadedModel(li["name"], li["ref"], li["version"], tuple(li["aliases"]), ltv_path, li["metadata"])
        ltv = LtvPredictor.from_bundle(ltv_path)
    churn = ChurnBundle.load(churn_path, reason_method=payload["reason_method"])
    uplift = None
    uplift_info = None
    if payload.get("uplift_file"):
        from models.uplift_bundle import UpliftBundle

        uplift_path = Path(locate(payload["uplift_file"]))
        ui = payload["uplift_info"]
        uplift_info = LoadedModel(
            ui["name"], ui["ref"], ui["version"], tuple(ui["aliases"]), uplift_path, ui["metadata"]
        )
        uplift = UpliftBundle.load(uplift_path)
    return ModelSet(
        churn, ltv, churn_info, ltv_info, PolicySettings(**payload["policy"]), uplift=uplift, uplift_info=uplift_info
    )


def _registry_version(ref: str, name: str, tracking_uri: str) -> tuple[str, str | None, tuple[str, ...], str | None]:
    """Map an alias/``models:/`` reference to ``(models:/name/version, version, aliases, registered at)``.

    A path passes through with no version.
    """
    import re

    if Path(ref).is_dir() or ("/" in ref and not ref.startswith("models:/")):
        return ref, None, (), None
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
    created_ms = getattr(mv, "creation_timestamp", None)
    registered = (
        None
        if created_ms is None
        else dt.datetime.fromtimestamp(int(created_ms) / 1000, dt.UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
    )
    return f"models:/{name}/{mv.version}", str(mv.version), tuple(getattr(mv, "aliases", ()) or ()), registered


def load_model_set(
    *,
    churn_ref: str,
    ltv_ref: str | None,
    tracking_uri: str,
    policy: PolicySettings | None = None,
    keep_files: bool = True,
    uplift_ref: str | None = "champion",
) -> ModelSet:
    """Resolve and load both bundles; raises ``UserInputError`` naming the bundle that failed and why.

    ``uplift_ref`` (default: the ``churnltv-uplift`` champion) is optional: an alias no version carries, or a
    churn model that did not come from the registry with the default alias, means no uplift model (decisions by
    risk x value). A bundle that exists but cannot be loaded is an error, like the other two.

    Registry bundles are downloaded into one temporary ``churnltv-load-*`` directory; without ``keep_files`` it
    is removed before this returns (the API: the bundles are in memory), with it the set owns it (batch scoring).
    A failed load always removes it.
    """
    downloads = tempfile.TemporaryDirectory(prefix="churnltv-load-")
    try:
        models = _load_into(churn_ref, ltv_ref, tracking_uri, policy, Path(downloads.name), keep_files, uplift_ref)
    except BaseException:
        downloads.cleanup()
        raise
    if not keep_files or not any(Path(downloads.name).iterdir()):  # removed at once, or nothing was downloaded
        downloads.cleanup()
        return models
    from dataclasses import replace

    return replace(models, downloads=downloads)


def _load_into(  # noqa: PLR0917
    churn_ref: str,
    ltv_ref: str | None,
    tracking_uri: str,
    policy: PolicySettings | None,
    downloads: Path,
    keep_files: bool,
    uplift_ref: str | None = None,
) -> ModelSet:
    from models.bundle_source import resolve_bundle
    from models.churn_bundle import ChurnBundle
    from models.health_scale import scaled_policy
    from models.policy_settings import PolicySettings

    def fetch(ref: str, name: str) -> tuple[Path, LoadedModel, str]:
        """The bundle directory, where it came from, and the name errors give it (the registry version)."""
        pinned, version, aliases, registered = _registry_version(ref, name, tracking_uri)
        local = version is None
        dst = None if local else downloads / f"{name}-{version}"
        path = resolve_bundle(pinned, default_name=name, tracking_uri=tracking_uri, dst_dir=dst)
        import json

        meta_file = path / "metadata.json"
        try:
            metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        except (ValueError, OSError) as err:
            label = str(path) if local else pinned
            raise UserInputError(f"{label}/metadata.json is not valid JSON: {err}") from None
        kept = path if local or keep_files else None
        return (
            path,
            LoadedModel(name, ref, version, aliases, kept, metadata, registered),
            str(path) if local else pinned,
        )

    def named(err: Exception, path: Path, label: str) -> str:
        """The error's text with the temporary copy replaced by the registry version it was downloaded from."""
        return str(err).replace(str(path), label).replace(str(downloads), f"{label} (download)")

    churn_path, churn_info, churn_label = fetch(churn_ref, CHURN_MODEL)
    try:
        churn = ChurnBundle.load(churn_path)
    except UserInputError as err:
        raise _renamed(err, named(err, churn_path, churn_label)) from None
    except Exception as err:  # a corrupt bundle is a user-fixable deployment problem, not a crash
        raise UserInputError(
            f"churn bundle {churn_ref} ({churn_label}) cannot be loaded: {named(err, churn_path, churn_label)}"
        ) from err
    ltv = None
    ltv_info = None
    if ltv_ref:
        from models.customer_value import LtvPredictor

        ltv_path, ltv_info, ltv_label = fetch(ltv_ref, LTV_MODEL)
        try:
            ltv = LtvPredictor.from_bundle(ltv_path)
        except UserInputError as err:
            raise _renamed(err, named(err, ltv_path, ltv_label)) from None
        except Exception as err:
            raise UserInputError(
                f"LTV bundle {ltv_ref} ({ltv_label}) cannot be loaded: {named(err, ltv_path, ltv_label)}"
            ) from err
    log.info(
        "loaded churn %s (version %s) and ltv %s (version %s)",
        churn_ref,
        churn_info.version,
        ltv_ref,
        None if ltv_info is None else ltv_info.version,
    )
    uplift, uplift_info = None, None
    # the default alias is looked up only in the registry the churn model came from (a local churn bundle has none)
    if uplift_ref and (uplift_ref != "champion" or churn_info.version is not None):
        uplift, uplift_info = _load_uplift(uplift_ref, tracking_uri, fetch, named)
    # the health score's activity scale fitted on the churn model's training population (models/health_scale.py)
    return ModelSet(
        churn,
        ltv,
        churn_info,
        ltv_info,
        scaled_policy(policy or PolicySettings(), churn.metadata),
        uplift=uplift,
        uplift_info=uplift_info,
    )


def _load_uplift(ref: str, tracking_uri: str, fetch: Any, named: Any) -> tuple[UpliftBundle | None, LoadedModel | None]:
    """The uplift bundle ``ref`` names; (None, None) when no version carries the default alias. A version that
    exists but cannot be downloaded or loaded is an error, never a silent fall back to risk x value."""
    from models.uplift_bundle import UpliftBundle

    if ref == "champion":
        try:
            _registry_version(ref, UPLIFT_MODEL, tracking_uri)
        except UserInputError as err:
            log.info("no uplift model: decisions by risk x value (%s)", err)
            return None, None
    path, info, label = fetch(ref, UPLIFT_MODEL)
    try:
        bundle = UpliftBundle.load(path)
    except UserInputError as err:
        raise _renamed(err, named(err, path, label)) from None
    except Exception as err:
        raise UserInputError(f"uplift bundle {ref} ({label}) cannot be loaded: {named(err, path, label)}") from err
    log.info("loaded uplift %s (version %s)", ref, info.version)
    return bundle, info


class DamagedBundleError(UserInputError):
    """A bundle whose files are there but damaged (a model text LightGBM must not see): a deployment that must not
    start on it (``churnltv serve`` and ``score`` exit 2), unlike a champion that does not exist yet."""


def _renamed(err: UserInputError, text: str) -> UserInputError:
    """``err`` with its message rewritten (registry names for temp paths), keeping whether the bundle is damaged."""
    from models.lightgbm_model_text import ModelTextError

    return DamagedBundleError(text) if isinstance(err, ModelTextError | DamagedBundleError) else UserInputError(text)


class FeatureSpecMismatchError(UserInputError):
    """A churn bundle whose feature specification differs from what the service feeds it (``differences``)."""

    def __init__(self, bundle: str, differences: list[str]) -> None:
        self.differences = differences
        shown = "\n".join(f"  - {d}" for d in differences)
        super().__init__(
            f"churn bundle {bundle} does not fit the features this service feeds it "
            f"({len(differences)} difference(s)):\n{shown}"
        )


def serving_spec_differences(
    spec: FeatureSpec, *, serving: FeatureSpec | None = None, source: FeatureSpec | None = None
) -> list[str]:
    """Every difference between a churn bundle's feature specification and what the service feeds it.

    Three references, each named at the start of its lines:

    * ``request schema``: the feature catalog ``POST /v1/predict``'s body is built from
      (``features.feature_spec.feature_catalog``; tests/unit/test_request_schema.py keeps
      ``CustomerFeatures`` equal to it), plus the ``ev_*``/``mod_*`` columns of the bundle's learned event
      vocabulary (``features.behaviour_vocabulary``), which the body carries as extra fields. A feature outside
      it, or with another dtype, kind or unit, cannot be sent by any client.
    * ``serving model``: what clients send today, built with the serving bundle's settings. A bundle
      that needs a feature the serving one did not, or other feature settings (core events, Aha rule,
      time unit), would be fed inputs it was not trained on, so changing the feature specification is
      a redeploy (restart, which checks only the catalog and the data), not a hot reload.
    * ``data source``: the features the configured data yields when built with the bundle's own
      settings (live lookups); a feature the data cannot produce (e.g. no transactions table) would
      be scored as unknown for every customer.

    Features a reference has and the bundle does not use are fine (the model reads its own columns by
    name), as in batch scoring's check of a bundle against the data (service/batch_scoring.py).
    """
    from features.behaviour_vocabulary import catalog as feature_catalog
    from features.settings import FeatureSettings

    settings = FeatureSettings.from_recorded(spec.settings)
    catalog = {f.name: f for f in feature_catalog(settings)}
    lines: list[str] = []
    for f in spec.features:
        known = catalog.get(f.name)
        if known is None:
            lines.append(
                f"request schema: feature {f.name!r} is not in the feature catalog, so no request can carry it"
            )
            continue
        for attr in ("dtype", "kind", "unit"):
            if getattr(f, attr) != getattr(known, attr):
                lines.append(
                    f"request schema: feature {f.name!r}: {attr} is {getattr(known, attr)!r}, "
                    f"the bundle expects {getattr(f, attr)!r}"
                )
    if serving is not None:
        lines.extend(f"serving model: {d}" for d in spec.diff(_only(serving, spec.names)))
    if source is not None:
        lines.extend(f"data source: {d}" for d in spec.diff(_only(source, spec.names)))
    return lines


def _only(spec: FeatureSpec, names: list[str]) -> FeatureSpec:
    """``spec`` without the features outside ``names`` (what is left out and why, the unit and settings kept)."""
    from features.feature_spec import FeatureSpec

    used = set(names)
    kept = [f for f in spec.features if f.name in used]
    return FeatureSpec(kept, dict(spec.absent), spec.time_unit, dict(spec.settings))
