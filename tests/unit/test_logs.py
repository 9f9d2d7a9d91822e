"""JSON log lines carry the request and message ids of their context."""

import json
import logging

from bot.logs import JsonFormatter, message_id, request_id


def test_json_lines_name_the_request_and_the_message() -> None:
    record = logging.LogRecord("gridbot", logging.INFO, __file__, 1, "ticket %s opened", (7,), None)
    plain = json.loads(JsonFormatter().format(record))
    assert (plain["level"], plain["logger"], plain["msg"]) == ("INFO", "gridbot", "ticket 7 opened")
    assert "request_id" not in plain and "message_id" not in plain
    r, m = request_id.set("req-1"), message_id.set(42)
    try:
        tagged = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(r)
        message_id.reset(m)
    assert (tagged["request_id"], tagged["message_id"]) == ("req-1", 42)
