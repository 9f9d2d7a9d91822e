"""Prometheus metrics (`GET /metrics`): what flows (messages, parse latency, deliveries) is counted
as it happens; what stands (tickets by state and tier, the outbox queue) is read from the database
at scrape time, so every process reports the same shared truth. One registry per app, no globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("gridbot_messages_total", "Inbound messages handled", ["channel", "route"],
                                registry=self.registry)  # fmt: skip
        self.parse = Histogram("gridbot_nlu_parse_seconds", "NLU parse latency", ["source"],
                               buckets=LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.deliveries = Counter("gridbot_deliveries_total", "Outbox delivery attempts", ["result"],
                                  registry=self.registry)  # fmt: skip
        self.tickets = Gauge("gridbot_tickets", "Tickets by state", ["state"], registry=self.registry)
        self.escalated = Gauge("gridbot_open_tickets_by_tier", "Open tickets by the tier they sit at", ["tier"],
                               registry=self.registry)  # fmt: skip
        self.outbox = Gauge("gridbot_outbox_messages", "Outbound messages by delivery state", ["status"],
                            registry=self.registry)  # fmt: skip
        self.city_pushes = Gauge("gridbot_city_pushes", "Pushes to the city platform by state (pending, dead)",
                                 ["status"], registry=self.registry)  # fmt: skip
        self.city_attempts = Counter("gridbot_city_push_attempts_total", "Attempts to push to the city platform",
                                     ["result"], registry=self.registry)  # fmt: skip
        self.nlu_cache = Gauge("gridbot_nlu_cache", "Parse cache of this process: hits, misses, skipped (no words, "
                               "never parsed), entries", ["kind"], registry=self.registry)  # fmt: skip
        self._cache_figures: Callable[[], Mapping[str, int]] = dict

    def watch_cache(self, figures: Callable[[], Mapping[str, int]]) -> None:
        """Report this process's parse cache (`bot.nlu.chain.ParseCache.figures`) at each scrape."""
        self._cache_figures = figures

    def handled(self, channel: str, route: str) -> None:
        self.messages.labels(channel, route).inc()

    def parsed(self, source: str, seconds: float) -> None:
        self.parse.labels(source).observe(seconds)

    def delivered(self, ok: bool) -> None:
        self.deliveries.labels("sent" if ok else "failed").inc()

    def pushed(self, ok: bool) -> None:
        self.city_attempts.labels("sent" if ok else "failed").inc()

    async def render(self, standing: Callable[[], Awaitable[Mapping[str, Mapping[str, int]]]]) -> bytes:
        """Refresh the standing gauges from `standing()` ({"tickets", "tiers", "outbox", "city_pushes"}: label → n)."""
        figures = await standing()
        for gauge, key in (
            (self.tickets, "tickets"),
            (self.escalated, "tiers"),
            (self.outbox, "outbox"),
            (self.city_pushes, "city_pushes"),
        ):
            gauge.clear()
            for label, value in figures.get(key, {}).items():
                gauge.labels(label).set(value)
        for kind, value in self._cache_figures().items():
            self.nlu_cache.labels(kind).set(value)
        return generate_latest(self.registry)


class NoMetrics(Metrics):
    """For callers that do not care (tests of the core paths): counts nothing."""

    def handled(self, channel: str, route: str) -> None:
        return None

    def parsed(self, source: str, seconds: float) -> None:
        return None

    def delivered(self, ok: bool) -> None:
        return None

    def pushed(self, ok: bool) -> None:
        return None
