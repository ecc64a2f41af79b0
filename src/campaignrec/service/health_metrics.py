"""Drift and health gauges in ``/metrics``: :func:`campaignrec.pipeline.health.health_report`
read at scrape time, at most once per ``ttl_seconds`` (the figures scan a week of events, so a
scrape every few seconds reuses the last report).

Gauges (labels are bounded: event types come from the schema, versions from the registry):

* ``campaignrec_events_window{window="this_week"|"last_week", event_type}``
* ``campaignrec_event_volume_change`` (this week / last week - 1) and ``campaignrec_event_mix_psi``
* ``campaignrec_cold_user_share`` and ``campaignrec_cold_event_share``
* ``campaignrec_served_decisions{version}``, ``campaignrec_served_clicks{version}``,
  ``campaignrec_served_ctr{version}``
* ``campaignrec_active_model_age_seconds{name, version}`` and
  ``campaignrec_active_model_data_age_seconds{name, version}``
* ``campaignrec_retrain_last_decision{outcome}`` (1) and
  ``campaignrec_retrain_last_decision_timestamp_seconds``
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("campaignrec.service")


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class HealthCollector(Collector):
    """A Prometheus collector over a (cached) health report."""

    def __init__(self, report: Callable[[], Any], *, ttl_seconds: float = 60.0) -> None:
        self._report = report
        self.ttl_seconds = ttl_seconds
        self._cached: Any = None
        self._at = -math.inf
        self._lock = threading.Lock()

    def _current(self) -> Any:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_seconds:
                try:
                    self._cached = self._report()
                except Exception as exc:  # a failing check never breaks the scrape
                    log.warning("health report failed: %s", type(exc).__name__)
                self._at = time.monotonic()
            return self._cached

    def collect(self) -> Iterator[GaugeMetricFamily]:
        r = self._current()
        if r is None:
            return
        events = GaugeMetricFamily(
            "campaignrec_events_window",
            "events per type in a window",
            labels=["window", "event_type"],
        )
        for window, mix in (("this_week", r.mix_this_week), ("last_week", r.mix_last_week)):
            for event_type, n in sorted(mix.items()):
                events.add_metric([window, event_type], float(n))
        yield events
        for name, doc, value in (
            ("campaignrec_event_volume_change", "events this week / last week - 1", r.volume_change),
            ("campaignrec_event_mix_psi", "PSI of the event-type mix against last week", r.mix_psi),
            ("campaignrec_cold_user_share", "share of this week's shoppers the model never saw",
             r.cold_user_share),
            ("campaignrec_cold_event_share", "share of this week's events from those shoppers",
             r.cold_event_share),
        ):  # fmt: skip
            v = _finite(value)
            if v is not None:
                yield GaugeMetricFamily(name, doc, value=v)
        dec = GaugeMetricFamily(
            "campaignrec_served_decisions", "logged decisions", labels=["version"]
        )
        clk = GaugeMetricFamily(
            "campaignrec_served_clicks", "clicked decisions", labels=["version"]
        )
        ctr = GaugeMetricFamily("campaignrec_served_ctr", "served CTR", labels=["version"])
        for row in r.ctr_by_version:
            dec.add_metric([row["version"]], float(row["decisions"]))
            clk.add_metric([row["version"]], float(row["clicks"]))
            if _finite(row["ctr"]) is not None:
                ctr.add_metric([row["version"]], float(row["ctr"]))
        yield from (dec, clk, ctr)
        m = r.active_model
        if m:
            for name, key in (
                ("campaignrec_active_model_age_seconds", "age_days"),
                ("campaignrec_active_model_data_age_seconds", "data_age_days"),
            ):
                days = _finite(m.get(key))
                if days is not None:
                    g = GaugeMetricFamily(name, key.replace("_", " "), labels=["name", "version"])
                    g.add_metric([m["name"], m["version"]], days * 86_400.0)
                    yield g
        last = r.last_retrain
        if last:
            g = GaugeMetricFamily(
                "campaignrec_retrain_last_decision", "the retrain gate's last decision",
                labels=["outcome"],
            )  # fmt: skip
            g.add_metric([str(last["outcome"])], 1.0)
            yield g
            at = datetime.fromisoformat(str(last["at"])).timestamp()
            yield GaugeMetricFamily(
                "campaignrec_retrain_last_decision_timestamp_seconds",
                "when the retrain gate last decided",
                value=at,
            )
