import pytest

from bot.interpret import Situation, parse_rating, route, ticket_ref
from bot.nlu.port import Entity, Parse
from tickets.directory import Person, Role

WORKER = Person("w1", "李建国", Role.WORKER, "g1")


@pytest.mark.parametrize(
    ("text", "rating"),
    [("5", 5), ("4分", 4), ("五星", 5), ("满意", 5), ("非常满意！谢谢", 5), ("基本满意", 3), ("不满意", 1),
     ("3 分", 3), ("满意👍", 5), ("6", None), ("5号楼漏水", None), ("满意度调查什么时候", None), ("", None)],
)  # fmt: skip
def test_parse_rating(text: str, rating: int | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    ("text", "ticket"), [("#12 已处理", 12), ("12号工单收到", 12), ("工单 7 修好了", 7), ("3号楼", None)]
)
def test_ticket_ref(text: str, ticket: int | None) -> None:
    assert ticket_ref(Parse("x", 1.0), text) == ticket


def test_ticket_ref_prefers_the_entity() -> None:
    assert ticket_ref(Parse("x", 1.0, (Entity("ticket_id", 0, 3, "#45"),)), "#45 好了 3号楼") == 45


def p(intent: str) -> Parse:
    return Parse(intent, 0.9)


def test_route_residents() -> None:
    assert route(p("report_water"), "漏水了", Situation()) == "report"
    assert route(p("chitchat"), "早上好", Situation()) == "ignore"
    assert route(p("confirm_resolved"), "满意", Situation()) == "rate"
    assert route(p("reject_resolution"), "还没修好", Situation()) == "reject_resolution"
    assert route(p("worker_resolve"), "已处理", Situation()) == "ignore"  # residents cannot resolve


def test_route_workers() -> None:
    assert route(p("worker_resolve"), "#3 已处理", Situation(WORKER)) == "worker_resolve"
    assert (
        route(p("chitchat"), "收到", Situation(WORKER, replies_to_ticket=True)) == "worker_accept"
    )  # 收到 replying to a ticket post
    assert route(p("chitchat"), "收到", Situation(WORKER)) == "ignore"
    assert route(p("report_noise"), "工地夜里施工", Situation(WORKER)) == "report"
