"""The send limiter: per-chat and overall sliding windows, with a fake clock."""

from bot.ratelimit import RateLimiter


def test_windows_per_chat_and_overall() -> None:
    now = [0.0]
    limiter = RateLimiter(per_chat=2, per_chat_window_s=60, overall=3, overall_window_s=1, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == 60  # the group's third message waits for the minute
    assert limiter.take("b") == 0
    assert limiter.take("c") == 1  # 3 in the last second overall
    now[0] = 1.0
    assert limiter.take("c") == 0
    assert limiter.delay("a") == 59
