"""Pure helpers of the conversation layer: commands, routing, places, masking, the FAQ."""

import pytest

from bot.faq import FaqError, parse_faq
from bot.handlers.report import place_key
from bot.interpret import Situation, command, command_note, parse_rating, route, ticket_ref
from bot.nlu.port import Parse
from bot.render import Renderer, TemplateError, Templates, mask_personal
from config.directory import load_directory_file
from config.settings import CONFIG
from tickets.directory import Person, Role
from tickets.model import Notice
from tickets.texts import Text

WORKER = Person("w1", "李建国", Role.WORKER, "g1")


@pytest.mark.parametrize(
    ("text", "key", "ticket"),
    [("/接单 12", "worker_accept", 12), ("／已处理 #3 修好了", "worker_resolve", 3),
     ("/吹哨 5 需要城管", "escalate_request", 5), ("/进展 7 明天来", "worker_progress", 7),
     ("我的工单", "my_tickets", None), ("/我的工单", "my_tickets", None),
     ("#12 已处理", None, 12), ("/不存在 1", None, 1), ("接单", None, None)],
)  # fmt: skip
def test_commands(text: str, key: str | None, ticket: int | None) -> None:
    assert command(text) == key
    assert ticket_ref(Parse("x", 1.0), text) == ticket


def test_a_rating_may_name_its_ticket() -> None:
    assert parse_rating("#12 4分") == 4
    assert parse_rating("#12") is None


def test_routes_of_the_conversation_layer() -> None:
    chit = Parse("chitchat", 0.9)
    waiting = Situation(awaiting_location="report_public_facility")
    assert route(chit, "5号楼", waiting) == "locate"
    assert route(Parse("cancel_report", 0.9), "不用了", waiting) == "cancel_report"
    assert route(chit, "", Situation(attachments=True)) == "attach"
    assert route(Parse("worker_resolve", 0.9), "#3 已处理", Situation()) == "worker_resolve"  # refused later
    assert route(Parse("worker_resolve", 0.9), "已经处理了吗", Situation()) == "ignore"
    assert route(Parse("other", 0.9), "#3 居民说是东门那个", Situation(WORKER)) == "worker_note"
    assert route(chit, "/接单 3", Situation()) == "worker_accept"  # refused by the handler
    assert route(Parse("report_water", 0.9), "#3 又漏了", Situation(WORKER)) == "worker_note"


def test_place_keys_unify_the_ways_residents_write_a_building() -> None:
    assert place_key("三号楼 2单元") == place_key("3#楼2单元") == place_key("3栋2单元")
    assert place_key("3号楼") != place_key("3单元")
    assert place_key("") == ""


def test_group_posts_mask_phones_and_id_numbers() -> None:
    text = "电话13812345678，身份证11010119900307123X，座机0571-88812345，工单#12 3号楼502"
    assert mask_personal(text) == "电话138****5678，身份证110101********123X，座机0571-****2345，工单#12 3号楼502"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话139-0000-1111。", "电话139****1111。"),
        ("电话139 0000 1111", "电话139****1111"),
        ("1 3 9 0 0 0 0 1 1 1 1", "139****1111"),
        ("139—0000—1111", "139****1111"),  # em dashes
        ("139\u200b0000\u200b1111", "139****1111"),  # zero-width spaces between the digits
        ("联系１３９００００１１１１谢谢", "联系139****1111谢谢"),  # full-width digits
        ("１３９－００００－１１１１", "139****1111"),
        ("139\u30000000\u30001111", "139****1111"),  # ideographic spaces
        ("+8613900001111", "+86 139****1111"),
        ("电话：+86 139 0000 1111。", "电话：+86 139****1111。"),
        ("0086-139-0000-1111", "+86 139****1111"),
        ("（+86）13900001111", "+86 139****1111"),
        ("8613900001111", "+86 139****1111"),
        ("电话13900001111 3号楼502", "电话139****1111 3号楼502"),
        ("13900001111-502", "139****1111-502"),
        ("身份证110101 19900307 123X", "身份证110101********123X"),
        ("身份证110101-1990-0307-1234。", "身份证110101********1234。"),
        ("身份证１１０１０１１９９００３０７１２３Ｘ号", "身份证110101********123X号"),
        ("座机(0571)8888-1234", "座机0571-****1234"),
        ("座机（0571）8888 1234", "座机0571-****1234"),
        ("座机0571 8888 1234 转 808", "座机0571-****1234 转 808"),
        ("座机057188881234", "座机0571-****1234"),
        ("座机010-12345678", "座机010-****5678"),
        ("座机01012345678", "座机010-****5678"),
        ("座机＋86 571 8888 1234", "座机+86 571-****1234"),
    ],
)
def test_every_spelling_of_a_personal_number_is_masked_readably(text: str, masked: str) -> None:
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "工单#12 已处理，工单号 #100234、#7",
        "预计12月04日 18:00:00前处理，2026-12-04 18:00 复查，2026.12.04，20261204，08:30-17:30",
        "3号楼2单元1502室，3-2-1502，A座 1502，5栋 1-2-302",
        "罚款2000元，维修费￥1,380.50，共13800元，补贴 1500 元",
        "2026年12月4日 13:00 到 2026年12月5日 19:30",
        "一个长号 813900001111 不是手机号",
    ],
)
def test_ticket_numbers_dates_times_rooms_and_money_stay_as_written(text: str) -> None:
    assert mask_personal(text) == text


def test_faq_matches_the_most_specific_entry_and_validates() -> None:
    faq = parse_faq([
        {"id": "a", "keywords": [["社保"]], "answer": "泛泛"},
        {"id": "b", "keywords": [["社保", "医保"], ["交", "缴"]], "answer": "具体"},
    ])  # fmt: skip
    assert faq.match("社保怎么交").id == "b"  # type: ignore[union-attr]
    assert faq.match("社保卡丢了").id == "a"  # type: ignore[union-attr]
    assert faq.match("户口怎么迁") is None
    with pytest.raises(FaqError, match="unique"):
        parse_faq([{"id": "a", "keywords": ["x"], "answer": "y"}, {"id": "a", "keywords": ["x"], "answer": "y"}])
    with pytest.raises(FaqError, match="answer"):
        parse_faq([{"id": "a", "keywords": ["x"], "answer": ""}])
    with pytest.raises(FaqError, match="keyword group"):
        parse_faq([{"id": "a", "keywords": [[1]], "answer": "y"}])


def test_every_route_has_a_handler_and_every_handler_a_route() -> None:
    from bot.handlers import build_registry
    from bot.interpret import COMMANDS, Route

    registry = build_registry()
    assert set(registry) == set(Route)
    assert set(COMMANDS.values()) <= set(Route)


def _renderer(templates: Templates | None = None) -> Renderer:
    directory = load_directory_file(CONFIG / "grids.demo.yaml")
    return Renderer(templates or Templates.load(CONFIG / "templates.yaml"), lambda: directory)


def test_a_templates_own_hotline_is_posted_as_written_and_the_residents_number_masked() -> None:
    """Issue 22: `社区电话 0571-88886666` in a template came out as 0571-****6666."""
    shipped = Templates.load(CONFIG / "templates.yaml")
    messages = {**shipped.messages, "ticket_opened": "已登记工单 #{ticket_id}：{text}。社区电话 0571-88886666"}
    renderer = _renderer(Templates(messages, shipped.names))
    params = {
        "ticket_id": 3,
        "text": "漏水了 我电话139 0000 1111",
        "reporter": "１３９００００１１１１",
        "grid": "yg-1",
    }
    posted = renderer.notice(Notice(Text.TICKET_OPENED, chat_id="yg-1", params=params))
    assert posted == "已登记工单 #3：漏水了 我电话139****1111。社区电话 0571-88886666"
    asked = renderer.notice(Notice(Text.STATUS_NONE, chat_id="yg-1", params=params))
    assert asked.startswith("@139****1111 ")  # a resident whose name is a number, too
    faq = renderer.notice(Notice(Text.FAQ_ANSWER, chat_id="yg-1", params={"answer": "物业电话 0571-88881234"}))
    assert "0571-88881234" in faq  # the FAQ's answer is the administrators' words


def test_an_answer_on_a_one_to_one_line_is_in_one_to_one_words() -> None:
    """Issue 22: an Official Account resident (one to one) was told 会在群里告诉您."""
    renderer = _renderer()
    params = {"ticket_id": 3, "type": "report_water", "reporter": "微信用户0001#wx1", "worker": "w-yg-1"}
    private = renderer.notice(Notice(Text.TICKET_OPENED, chat_id="yg-1", params=params, private=True))
    group = renderer.notice(Notice(Text.TICKET_OPENED, chat_id="yg-1", params=params))
    assert "#3" in private and "李建国" in private
    assert "群" not in private and "@" not in private
    assert "群里" in group and "@微信用户0001" in group  # the group's words are unchanged
    for key, text in renderer.templates.one_to_one.items():
        assert "群" not in text and "@" not in text, key


def test_a_one_to_one_variant_must_name_a_message() -> None:
    with pytest.raises(TemplateError, match="one_to_one"):
        Templates.parse("messages:\n  ticket_opened: 'x'\none_to_one:\n  ticket_openned: 'y'\n")
    with pytest.raises(TemplateError, match="unknown"):
        Templates.parse("messages:\n  ticket_opened: 'x'\none_to_one:\n  ticket_opened: '{nope}'\n")


@pytest.mark.parametrize(
    ("text", "note"),
    [("/进展 14 已联系师傅", "已联系师傅"), ("/进展14 已联系师傅", "已联系师傅"), ("／已处理 #3 修好了", "修好了"),
     ("#14，已联系师傅", "已联系师傅"), ("14号工单 已联系", "已联系"), ("工单#14：已联系", "已联系"),
     ("/吹哨 5 需要城管", "需要城管"), ("/进展 14", ""), ("#12", ""), ("已联系师傅 #14", "已联系师傅 #14"),
     ("/进展已联系师傅", "/进展已联系师傅")],
)  # fmt: skip
def test_a_commands_note_is_its_words_without_the_command(text: str, note: str) -> None:
    assert command_note(text) == note
