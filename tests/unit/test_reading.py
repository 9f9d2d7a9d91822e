"""The dialogue layer's reading of words in a situation, the parts of a message, and the gate."""

from __future__ import annotations

import pytest

from bot.interpret import Route, Situation, find_rating, route, understood
from bot.nlu.metrics import Prediction, Row, gate, score
from bot.nlu.port import Entity, Parse
from bot.nlu.segments import parts
from tickets.directory import Person, Role

WORKER = Person("w1", "李建国", Role.WORKER, "g1")
FEEDBACK = Situation(awaiting_feedback=True)


def p(intent: str, confidence: float = 0.9, **kw: object) -> Parse:
    return Parse(intent, confidence, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rating"),
    [("修好了，满意，谢谢", 5), ("好了 5分", 5), ("谢谢 给个五星", 5), ("基本满意吧", 3), ("不满意 还在漏", 1),
     ("等了5分钟", None), ("修好了", None)],
)  # fmt: skip
def test_a_rating_inside_a_longer_message(text: str, rating: int | None) -> None:
    assert find_rating(text) == rating


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [(p("chitchat"), "👍👍", Route.CONFIRM_RESOLVED), (p("chitchat"), "看了 清得挺干净", Route.CONFIRM_RESOLVED),
     (p("chitchat"), "只清了一半 后面那堆还在", Route.REJECT_RESOLUTION),
     (p("chitchat"), "来人看了一眼就走了 啥也没干", Route.REJECT_RESOLUTION),
     (p("report_water"), "水是来了 但还是黄的", Route.REJECT_RESOLUTION),
     (p("confirm_resolved"), "修好了 满意", Route.RATE), (p("chitchat"), "好了 5分", Route.RATE),
     (p("reject_resolution"), "楼道干净了 下次还找你们", Route.CONFIRM_RESOLVED),
     (p("ask_status"), "还没修好啊", Route.REJECT_RESOLUTION),
     (p("ask_status"), "灯还是不亮", Route.REJECT_RESOLUTION),
     (p("ask_status"), "还是想问问另一个单子到哪一步了", Route.ASK_STATUS)],
)  # fmt: skip
def test_the_word_on_a_resolved_case(parse: Parse, text: str, expected: Route) -> None:
    assert route(parse, text, FEEDBACK) is expected


def test_without_a_resolved_case_the_same_words_are_chatter() -> None:
    assert route(p("chitchat"), "👍👍", Situation()) is Route.IGNORE


@pytest.mark.parametrize(
    ("text", "expected"), [("有人管吗", Route.ASK_STATUS), ("人呢？", Route.ASK_STATUS), ("撤了", Route.CANCEL_REPORT)]
)
def test_a_resident_replying_to_the_case_post(text: str, expected: Route) -> None:
    assert route(p("chitchat"), text, Situation(replies_to_ticket=True)) is expected
    assert route(p("chitchat"), text, Situation()) is not expected  # the reply is what makes it so


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [(p("worker_progress"), "清好了", Route.WORKER_RESOLVE),
     (p("worker_resolve"), "在路上了 马上到", Route.WORKER_PROGRESS),
     (p("chitchat"), "处理完了 @王阿姨 您下楼瞅一眼", Route.WORKER_RESOLVE),
     (p("chitchat"), "我接了 大家别重复报了", Route.WORKER_ACCEPT), (p("chitchat"), "收到", Route.IGNORE)],
)  # fmt: skip
def test_a_worker_s_done_or_ongoing(parse: Parse, text: str, expected: Route) -> None:
    assert route(parse, text, Situation(WORKER)) is expected


def test_a_pending_place_question_takes_only_a_place() -> None:
    waiting = Situation(awaiting_location="report_public_facility")
    place = p("report_sanitation", 0.8, entities=(Entity("building", 0, 4, "12号楼"),))
    assert route(place, "12号楼 楼道里", waiting) is Route.LOCATE  # nothing beyond the place
    assert route(p("report_sanitation", 0.9), "还有垃圾桶满了好几天没人收", waiting) is Route.REPORT
    assert route(p("chitchat"), "大家吃了吗", waiting) is Route.IGNORE  # chatter; the question stays open
    assert route(p("chitchat"), "东门进去左手边", waiting) is Route.LOCATE


def test_ask_once_when_a_report_is_plausible_but_unsure() -> None:
    unsure = p("chitchat", 0.4, report_hint="report_water", hint_confidence=0.35)
    assert route(unsure, "楼后头那片好像不太对劲", Situation()) is Route.ASK_REPORT
    assert route(p("chitchat", 0.4, report_hint="report_water", hint_confidence=0.1), "哈哈哈哈哈哈", Situation()) is (
        Route.IGNORE
    )
    assert understood(Route.ASK_REPORT, unsure, "…", Situation()) == "report_water"


@pytest.mark.parametrize(
    ("text", "count"),
    [("6号楼路灯坏了 楼下也有人乱停车", 2), ("井盖没了 还有垃圾桶满了", 2), ("1.路灯坏了 2.井盖没了 3.垃圾没收", 3),
     ("小区里流浪狗好多 咬人了", 1), ("5栋2单元502漏水漏到楼下了", 1)],
)  # fmt: skip
def test_the_parts_of_a_message(text: str, count: int) -> None:
    assert len(parts(text)) == count


def _scores(labels: list[str], predicted: list[str], urgent: list[bool], notes: list[str]):  # type: ignore[no-untyped-def]
    rows = [Row(f"t{i}", label, note=note) for i, (label, note) in enumerate(zip(labels, notes, strict=True))]
    preds = [Prediction(i, (), "rasa", 1.0, u) for i, u in zip(predicted, urgent, strict=True)]
    return score(rows, preds, lambda i: i.startswith("report_"))


def test_the_gate_refuses_a_missed_emergency_and_a_lost_point() -> None:
    labels = ["report_water"] * 50 + ["chitchat"] * 50
    notes = ["emergency: x"] + [""] * 99
    good = _scores(labels, labels, [True] + [False] * 99, notes)
    assert gate(good, good).passed
    missed = _scores(labels, labels, [False] * 100, notes)
    assert not gate(missed, good).passed and "emergencies" in gate(missed, good).reason
    worse = _scores(labels, ["chitchat"] * 2 + labels[2:], [True] + [False] * 99, notes)
    assert not gate(worse, good).passed  # two rows of a hundred: more than one point


@pytest.mark.parametrize(
    ("text", "expected"),
    [("好的 三号楼那个下水道我这就过去", Route.WORKER_ACCEPT), ("收到收到 西门那辆车我下午去瞅瞅", Route.WORKER_ACCEPT),
     ("嗯 知道了 三点前到", Route.WORKER_ACCEPT), ("行 这事归我", Route.WORKER_ACCEPT),
     ("收到 我到家了", Route.IGNORE), ("好的 大家早点休息", Route.IGNORE)],
)  # fmt: skip
def test_a_worker_s_acknowledgement_that_says_they_go_takes_the_case(text: str, expected: Route) -> None:
    """Read as chatter by the model, a worker's 收到 + "I go and look" takes the case; a bare 收到 does not."""
    assert route(p("chitchat"), text, Situation(WORKER)) is expected
