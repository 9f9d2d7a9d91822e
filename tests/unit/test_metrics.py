"""The Prometheus registry: flow counters and the standing gauges refreshed at scrape time."""

from bot.metrics import Metrics


async def test_counters_and_gauges_render_in_the_exposition_format() -> None:
    metrics = Metrics()
    metrics.handled("telegram", "report")
    metrics.parsed("rules", 0.004)
    metrics.delivered(False)

    async def standing() -> dict[str, dict[str, int]]:
        return {"tickets": {"reported": 3, "closed": 7}, "tiers": {"township": 1}, "outbox": {"dead": 2}}

    text = (await metrics.render(standing)).decode()
    assert 'gridbot_messages_total{channel="telegram",route="report"} 1.0' in text
    assert 'gridbot_nlu_parse_seconds_bucket{le="0.005",source="rules"} 1.0' in text
    assert 'gridbot_deliveries_total{result="failed"} 1.0' in text
    assert 'gridbot_tickets{state="closed"} 7.0' in text
    assert 'gridbot_open_tickets_by_tier{tier="township"} 1.0' in text
    assert 'gridbot_outbox_messages{status="dead"} 2.0' in text

    async def fewer() -> dict[str, dict[str, int]]:
        return {"tickets": {"closed": 8}}

    text = (await metrics.render(fewer)).decode()
    assert 'state="reported"' not in text  # a state with no tickets any more disappears


async def test_the_parse_cache_figures_are_read_at_each_scrape() -> None:
    from bot.nlu.chain import ParseCache
    from bot.nlu.port import Parse

    cache = ParseCache()
    metrics = Metrics()
    metrics.watch_cache(cache.figures)
    cache.put("收到", Parse("chitchat", 0.9, (), "rasa"))
    cache.get("收到！")
    cache.get("好的")

    async def standing() -> dict[str, dict[str, int]]:
        return {}

    body = (await metrics.render(standing)).decode()
    assert 'gridbot_nlu_cache{kind="hits"} 1.0' in body and 'gridbot_nlu_cache{kind="misses"} 1.0' in body
    assert 'gridbot_nlu_cache{kind="entries"} 1.0' in body
