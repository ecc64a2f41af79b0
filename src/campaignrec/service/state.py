"""What the service opens once: store, online state, keys, rate limits, ranker and metrics."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select

from campaignrec.config import Settings
from campaignrec.errors import CampaignrecError
from campaignrec.experiments.live import LiveExperiments, build_live_experiments
from campaignrec.pipeline.health import health_report
from campaignrec.pipeline.training import active_model_row
from campaignrec.privacy.audit import AccessAuditor
from campaignrec.privacy.edge import privacy_edge
from campaignrec.privacy.pseudonymise import pseudonymise_user_id
from campaignrec.ranking import Ranker
from campaignrec.service.auth import KeyStore, TokenBucket
from campaignrec.service.campaigns import CatalogCache
from campaignrec.service.exposures import ExposureLog
from campaignrec.service.health_metrics import HealthCollector
from campaignrec.service.result_cache import ResultCache
from campaignrec.store.online import bump_results_epoch, online_for
from campaignrec.store.sql import SQLStore

log = logging.getLogger("campaignrec.service")
CATALOGUE_KEY = "catalogue:changes"
#: a worker looks for new experiments at its model checks, at most this often (the worker that
#: creates one serves it at once)
EXPERIMENTS_CHECK_SECONDS = 1.0


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
    """Opened in the lifespan; reloads the ranker when the registry's served version changes.

    A new :class:`Ranker` is built beside the old one and swapped in with one assignment, so a
    request in flight keeps the ranker it started with and none waits for the load.

    The running experiments are held the same way (``live``, a
    :class:`~campaignrec.experiments.live.LiveExperiments` with a ranker per model version an
    experiment names), rebuilt at the same checks when an experiment was created or the served
    model changed; a request reads it once and runs no SQL for it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = SQLStore(settings.resolved_database_url)
        self.online: Any = online_for(settings)
        self.keys = KeyStore(self.store)
        self.bucket = TokenBucket(settings.api_rate_per_second, settings.api_rate_burst)
        self.edge = privacy_edge(settings, self.store)  # pseudonyms and personal fields
        self.catalog = CatalogCache(self.store, ttl_seconds=max(settings.model_check_seconds, 0.5))
        self.metrics = Metrics()
        self.audit = AccessAuditor(self.store, settings)  # who did what: off the request path
        # drift and health gauges, recomputed at most once a minute at scrape time
        self.metrics.registry.register(HealthCollector(lambda: health_report(self.store)))
        self._lock = threading.Lock()
        self._checked = 0.0
        self.ranker: Ranker | None = None
        self.version: str | None = None
        #: the lists answered before, per worker (docs/api.md); ``generation`` counts ranker swaps
        self.results = ResultCache(settings.result_cache_seconds)
        self.generation = 0
        self.live = LiveExperiments()
        self.exposures = ExposureLog(self.store)
        self.rng = np.random.default_rng()  # the coins of interleaved lists
        self._experiments_stamp: tuple[int, int] | None = None
        self._experiments_checked = -1e18
        self._version_rankers: dict[str, Ranker] = {}
        self.refresh(force=True)

    def stored_id(self, user_id: str) -> str:
        """The id the engine stores for an external user id (its pseudonym with a key set)."""
        return pseudonymise_user_id(self.settings, user_id)

    def served_version(self) -> str | None:
        """What should be served now: ``name:version`` of the active model and the catalogue's
        stamp (None: nothing is active). A change of either rebuilds the ranker."""
        try:
            row = active_model_row(self.store)
        except CampaignrecError:
            return None
        return f"{row['name']}:{row['version']}@{self._catalogue_stamp()}"

    def _catalogue_stamp(self) -> str:
        """The last import (any import of items, users or campaigns is logged) and the shared
        change counter bumped by ``POST /v1/items``: two primary-key reads, not a table scan."""
        imports = self.store.tables.imports
        with self.store.engine.connect() as conn:
            last = conn.execute(select(func.max(imports.c.import_id))).scalar_one()
        return f"{last or 0}:{self.online.get_count(CATALOGUE_KEY)}"

    def experiments_stamp(self) -> tuple[int, int]:
        """How many experiments are stored and the newest one's creation (definitions never
        change, so this tells a worker that one was added): one aggregate read."""
        from campaignrec.store.experiments import ExperimentRepository

        return ExperimentRepository(self.store).stamp()

    def experiments_changed(self) -> None:
        """An experiment was created here: serve it now (other workers: at their next check)."""
        self.refresh(force=True)

    def catalogue_changed(self) -> None:
        """Tell every worker that items changed (picked up at their next check)."""
        self.online.incr_capped(CATALOGUE_KEY, 2**62, 10 * 365 * 86400.0)
        bump_results_epoch(self.online)  # every worker's cached lists are dropped at once
        self._checked = 0.0

    def refresh(self, *, force: bool = False) -> None:
        """Serve the active model and the current catalogue (checked every model_check_seconds).

        The middleware calls this on the event loop, so the check and any load run on a
        background thread while requests go on with the current ranker. ``force`` (start-up,
        ``POST /v1/models/{name}/activate``) checks and loads at once in the caller's thread.
        """
        now = time.monotonic()
        if force:
            self._checked = now
            self._load(wait=True)
            return
        if now - self._checked < self.settings.model_check_seconds:
            return
        self._checked = now
        threading.Thread(target=self._load, name="campaignrec-model-check", daemon=True).start()

    def _load(self, *, wait: bool = False) -> None:
        if not self._lock.acquire(blocking=wait):
            return  # another thread is loading it
        try:
            try:
                version = self.served_version()
                stamp = self._experiments_stamp
                moment = time.monotonic()
                fresh = wait or moment - self._experiments_checked >= EXPERIMENTS_CHECK_SECONDS
                if fresh:
                    stamp, self._experiments_checked = self.experiments_stamp(), moment
            except Exception as exc:  # a check that fails keeps the ranker being served
                if wait:
                    raise
                log.warning("model check failed: %s", type(exc).__name__)
                return
            changed = False
            if version is not None and (version != self.version or self.ranker is None):
                try:
                    ranker = Ranker.from_store(
                        self.store,
                        self.settings,
                        self.online,
                        attribute_cache_seconds=self.settings.attribute_cache_seconds,
                    )
                except CampaignrecError:
                    ranker = None
                if ranker is not None:
                    self.ranker, self.version = ranker, version  # requests see old or new
                    self.generation += 1  # cached lists of the old ranker are never answered
                    self.results.clear()
                    self.metrics.model_version.clear()
                    self.metrics.model_version.labels(
                        ranker.model.name, ranker.model_version or ""
                    ).set(1)
                    changed = True
            retry = fresh and bool(self.live.skipped)  # a version an experiment waits for
            if changed or stamp != self._experiments_stamp or retry:
                try:
                    self._load_experiments(stamp)
                except Exception as exc:  # the experiments served so far stay served
                    log.warning("experiments reload failed: %s", type(exc).__name__)
        finally:
            self._lock.release()

    def _load_experiments(self, stamp: tuple[int, int] | None) -> None:
        """Rebuild ``live``: the stored experiments and the ranker of every arm (a model version
        is loaded once per served catalogue and kept while an experiment names it)."""
        from campaignrec.experiments.registry import list_experiments

        base = self.ranker
        catalogue = (self.version or "").rpartition("@")[2]
        used: dict[str, Ranker] = {}

        def load_version(version: str, name: str | None) -> Ranker:
            if (
                base is not None
                and base.model_version == version
                and (name is None or base.model.name == name)
            ):
                return base
            key = f"{name or ''}:{version}@{catalogue}"
            ranker = self._version_rankers.get(key)
            if ranker is None:
                ranker = Ranker.from_store(
                    self.store,
                    self.settings,
                    self.online,
                    model_name=name,
                    version=version,
                    attribute_cache_seconds=self.settings.attribute_cache_seconds,
                )
            used[key] = ranker
            return ranker

        live = build_live_experiments(
            list_experiments(self.store), base, load_version, now=datetime.now(UTC)
        )
        for eid, why in live.skipped.items():
            log.warning("experiment not served", extra={"experiment_id": eid, "reason": why})
        self.live, self._version_rankers = live, used
        self._experiments_stamp = stamp

    def close(self) -> None:
        self.audit.close()
        self.exposures.close()
        self.online.close()
        self.store.close()
