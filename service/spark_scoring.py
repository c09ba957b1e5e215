"""The Spark engine of batch scoring: the same features and the same ``score_frame``, spread over executors.

The driver lists the population (customers signed up before the cutoff, sorted) and cuts it into the same parts
as the local engine. Spark partitions the (part, customer_id) rows by part, and each task (``mapInPandas``):

1. opens the data source itself (a DuckDB file or Parquet/CSV directory on storage every executor can read, or
   a PostgreSQL URL) with the driver-side validation skipped,
2. builds features for its customers with ``features.point_in_time.build_features(..., customer_ids=...)`` — the
   same definitions; B2B account members are read too, and ``n_core_modules`` is pinned from the model's spec,
   so a part's features equal the whole-base features row for row,
3. scores them with ``service.batch_scoring.score_chunk`` -> ``service.prediction.score_frame``, loading the churn
   and LTV bundles from plain files shipped as zip archives with ``SparkContext.addArchive`` (LightGBM text + JSON;
   no pickled models).

Rows come back to the driver (Arrow), which writes each part to the score store exactly like the local engine,
so atomic publish, resume and the bad-row threshold are shared. On a cluster, submit with spark-submit and ship the
project as ``--py-files`` (see docs/BATCH.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.model_set import model_payload, models_from_payload
from service.score_store import STORAGE_FORM, STORE_COLUMNS, _column_kind, to_storage

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.settings import FeatureSettings
    from service.batch_scoring import ScoredPart
    from service.model_set import ModelSet

log = logging.getLogger(__name__)

OUTPUT_EXTRA = ("part", "bad_reason")


def population_ids(con: duckdb.DuckDBPyConnection, as_of: pd.Timestamp) -> list[str]:
    """Customers signed up before ``as_of``, sorted: the population ``build_features`` scores."""
    rows = con.execute("SELECT customer_id FROM customers WHERE signup_at < $1", [as_of.to_pydatetime()]).fetchall()
    return sorted(str(r[0]) for r in rows)


def spark_session(master: str | None = None, driver_memory: str = "3g") -> Any:
    """A Spark session (``local[*]`` unless ``master`` or spark-submit says otherwise), Arrow on, UTC clock."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("churnltv-score")
    if master:
        builder = builder.master(master)
        if master.startswith(("spark://127.0.0.1:", "spark://localhost:")):
            # a cluster on loopback: executors must reach the driver there too, not on the host's public address
            builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    elif not os.environ.get("PYSPARK_GATEWAY_PORT") and not os.environ.get("SPARK_MASTER"):
        # PYSPARK_GATEWAY_PORT is set when spark-submit launched us: its --master then applies
        builder = builder.master("local[*]")
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        # we start the JVM: give the driver room for a group of scored parts (Spark's 1g default loses 100k-row task
        # results from its block manager); under spark-submit, --driver-memory decides
        builder = builder.config("spark.driver.memory", driver_memory).config("spark.driver.maxResultSize", "0")
    session = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _output_schema() -> Any:
    from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType, TimestampNTZType

    spark_types = {"text": StringType(), "json": StringType(), "timestamp": TimestampNTZType(), "float": DoubleType()}
    fields = [StructField(c, spark_types[_column_kind(c)], True) for c in STORE_COLUMNS if c != "run_id"]
    fields += [StructField("part", IntegerType(), False), StructField("bad_reason", StringType(), True)]
    return StructType(fields)


def score_partition(
    batches: Iterator[pd.DataFrame],
    *,
    source_url: str,
    as_of: str,
    feature_settings: dict[str, Any],
    payload: dict[str, Any],
    top_reasons: int,
    locate: Any,
) -> Iterator[pd.DataFrame]:
    """The mapInPandas body: features + scores for every part in this Spark partition (storage form)."""
    import pandas as pd

    from features.point_in_time import build_features
    from features.settings import FeatureSettings
    from features.sources import open_source
    from service.batch_scoring import score_chunk

    chunks = [b for b in batches if len(b)]
    if not chunks:  # hash partitioning can leave a Spark partition without any part
        return
    frame = pd.concat(chunks, ignore_index=True)
    models = models_from_payload(payload, locate)
    settings = FeatureSettings(**feature_settings)
    cutoff = pd.Timestamp(as_of)
    source = open_source(source_url)
    try:
        con = source.connect(validate=False)  # the driver validated the data once
        for part, group in frame.groupby("part", sort=True):
            part_no = int(str(part))
            ids = sorted(group["customer_id"].astype(str))
            features, _ = build_features(con, [cutoff], settings, customer_ids=ids)
            features = features[features["customer_id"].isin(ids)]
            features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
            scored, bad = score_chunk(models, features, top_reasons=top_reasons)
            missing = sorted(set(ids) - set(features["customer_id"].astype(str)))
            out = to_storage(scored, "").drop(columns=["run_id"])
            out["part"] = part_no
            out["bad_reason"] = None
            bad_rows = [*zip(bad["customer_id"].astype(str), bad["reason"].astype(str), strict=True)]
            bad_rows += [(cid, "no features: customer not in the feature frame") for cid in missing]
            if bad_rows:
                extra = pd.DataFrame({c: [None] * len(bad_rows) for c in out.columns})
                extra["customer_id"] = [b[0] for b in bad_rows]
                extra["bad_reason"] = [b[1] for b in bad_rows]
                extra["part"] = part_no
                out = pd.concat([out, extra], ignore_index=True)
            out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[us]")
            yield out
        con.close()
    finally:
        source.close()


def _ship_bundle(spark: Any, bundle: Path, ship: Path, name: str) -> str:
    """Send a bundle directory to every executor; returns the name ``SparkFiles.get`` finds it under.

    ``addFile`` takes a directory only in local mode ("not supported in a non-local master mode"), so the bundle
    travels as a zip archive, which each executor unpacks into a directory of that name.
    """
    archive = shutil.make_archive(str(ship / name), "zip", root_dir=bundle)
    spark.sparkContext.addArchive(archive)
    return Path(archive).name


def spark_parts(
    *,
    source_url: str,
    as_of: pd.Timestamp,
    ids: Sequence[str],
    todo: Sequence[int],
    skip: set[str] | None = None,
    chunk_size: int,
    models: ModelSet,
    feature_settings: FeatureSettings,
    spark_master: str | None = None,
    top_reasons: int = 3,
    driver_memory: str = "3g",
) -> Iterator[ScoredPart]:
    """Score the parts ``todo`` on Spark and yield them in part order (the driver writes them to the store).

    Parts are cut from ``ids`` exactly as the local engine cuts them; ids in ``skip`` (customers set aside for bad
    input rows) are not sent to the executors, and the caller reports them as bad rows of their part.
    """
    import pandas as pd

    from service.batch_scoring import ScoredPart

    if not todo:
        return
    spark = spark_session(spark_master, driver_memory)
    ship = Path(tempfile.mkdtemp(prefix="churnltv-spark-models-"))
    try:
        churn_name = _ship_bundle(spark, models.churn_info.files(), ship, f"churn_bundle_{os.getpid()}")
        ltv_name = None
        if models.ltv_info is not None:
            ltv_name = _ship_bundle(spark, models.ltv_info.files(), ship, f"ltv_bundle_{os.getpid()}")
        uplift_name = None
        if models.uplift_info is not None:
            uplift_name = _ship_bundle(spark, models.uplift_info.files(), ship, f"uplift_bundle_{os.getpid()}")
        payload = model_payload(models, churn_name, ltv_name, uplift_name)
        settings_dict = feature_settings.model_dump(mode="json")
        as_of_text = as_of.isoformat()

        def task(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            from pyspark import SparkFiles

            yield from score_partition(
                batches,
                source_url=source_url,
                as_of=as_of_text,
                feature_settings=settings_dict,
                payload=payload,
                top_reasons=top_reasons,
                locate=SparkFiles.get,
            )

        skip = skip or set()
        parallelism = int(spark.sparkContext.defaultParallelism)
        # one Spark job per group of parts: the driver holds one group's rows at a time (collecting a whole 1M-row
        # run at once exceeded spark.driver.maxResultSize and lost the task results), and each group's parts are
        # durable before the next starts, so a killed run resumes from there
        group_size = max(1, parallelism)
        ordered = sorted(todo)
        log.info("spark: %d parts in jobs of %d (master %s)", len(ordered), group_size, spark.sparkContext.master)
        for start in range(0, len(ordered), group_size):
            group = ordered[start : start + group_size]
            pairs = [(p, c) for p in group for c in ids[p * chunk_size : (p + 1) * chunk_size] if c not in skip]
            rows = pd.DataFrame(pairs, columns=["part", "customer_id"]).astype({"part": "int32"})
            # an explicit schema: a group whose customers were all set aside sends an empty frame
            frame = spark.createDataFrame(rows, schema="part int, customer_id string").repartition(len(group), "part")
            result = frame.mapInPandas(task, schema=_output_schema()).toArrow().to_pandas()
            for part in group:
                rows_of_part = result[result["part"] == part]
                is_bad = rows_of_part["bad_reason"].notna()
                good = rows_of_part[~is_bad].drop(columns=list(OUTPUT_EXTRA))
                scored = good.sort_values("customer_id", kind="stable").reset_index(drop=True)
                scored["as_of"] = scored["as_of"].astype("datetime64[us]")
                scored.attrs[STORAGE_FORM] = True  # encoded by the executor: the store writes it as it is
                bad = rows_of_part[is_bad][["customer_id", "bad_reason"]].rename(columns={"bad_reason": "reason"})
                yield ScoredPart(int(part), scored, bad.reset_index(drop=True))
    finally:
        shutil.rmtree(ship, ignore_errors=True)
