"""Prometheus metrics of one app instance (its own registry, so several apps in one process do not clash)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "churnltv_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "churnltv_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.predictions = Counter(
            "churnltv_predictions", "Customers scored, by risk tier.", ["tier"], registry=self.registry
        )
        self.model_info = Gauge(
            "churnltv_model_info", "Loaded model versions (value 1).", ["model", "version"], registry=self.registry
        )
        self.reloads = Counter("churnltv_reloads", "Model reloads by outcome.", ["outcome"], registry=self.registry)

    def set_models(self, versions: dict[str, str | None]) -> None:
        self.model_info.clear()
        for model, version in versions.items():
            self.model_info.labels(model=model, version=str(version)).set(1)

    def count_tiers(self, tiers: Iterable[object]) -> None:
        """Count scored customers by their risk tier (``churnltv_predictions``)."""
        for tier in tiers:
            self.predictions.labels(tier=str(tier)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
