"""What the service opens once: store, online state, keys, rate limits, ranker and metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from campaignrec.config import Settings
from campaignrec.errors import CampaignrecError
from campaignrec.service.auth import KeyStore, TokenBucket
from campaignrec.service.ranking_adapter import FallbackRanker, active_version, open_ranker
from campaignrec.store.online import open_online_state
from campaignrec.store.sql import SQLStore


class Metrics:
    """Prometheus metrics on a per-app registry (tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "campaignrec_requests_total", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "campaignrec_request_seconds", "request latency", ["route", "method"], registry=r
        )
        self.events = Counter("campaignrec_events_ingested_total", "events accepted", registry=r)
        self.model_version = Gauge(
            "campaignrec_model_info", "model version served", ["name", "version"], registry=r
        )
        self.refusals = Counter(
            "campaignrec_campaign_refusals_total", "cap/budget refusals", ["reason"], registry=r
        )


class ServiceState:
    """Opened in the lifespan; reloads the ranker when the registry's active version changes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = SQLStore(settings.resolved_database_url)
        self.online: Any = open_online_state(settings.online_url)
        self.keys = KeyStore(self.store)
        self.bucket = TokenBucket(settings.api_rate_per_second, settings.api_rate_burst)
        self.metrics = Metrics()
        self._lock = threading.Lock()
        self._checked = 0.0
        self.ranker: FallbackRanker | None = None
        self.version: str | None = None
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        """Load the active model when its version changed (checked every model_check_seconds)."""
        now = time.monotonic()
        if not force and now - self._checked < self.settings.model_check_seconds:
            return
        self._checked = now
        try:
            version = active_version(self.store)
        except CampaignrecError:
            return
        if version is None or (version == self.version and self.ranker is not None):
            return
        with self._lock:
            try:
                ranker, loaded = open_ranker(self.store, self.settings, self.online)
            except CampaignrecError:
                return
            self.ranker, self.version = ranker, loaded  # one assignment: requests see old or new
            self.metrics.model_version.clear()
            self.metrics.model_version.labels(ranker.model.name, ranker.version or "").set(1)

    def close(self) -> None:
        self.online.close()
        self.store.close()
