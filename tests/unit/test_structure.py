"""What the form of a message says beside the model: the structural layer of the NLU chain.

Each case is a kind of message (not a line of any eval set): a story of times gone by or praise
after a fix, an announcement of planned work, a wish in the conditional, an advert without a phone
number, a joke the model is unsure about; and the reports that look like them but are not them.
"""

from __future__ import annotations

import pytest

from bot.interpret import Route, Situation, route
from bot.nlu.catalog import load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.port import Parse
from bot.nlu.rules import RulesNlu
from config.settings import CONFIG

RULES = RulesNlu(load_catalog(CONFIG / "intents"))


class Scripted:
    """The model's answer, whatever the text."""

    def __init__(self, parse: Parse) -> None:
        self.answer = parse

    async def parse(self, text: str) -> Parse:
        return self.answer

    async def ready(self) -> bool:
        return True


async def read(text: str, intent: str, confidence: float = 0.8, hint: str | None = None) -> Parse:
    hint = hint or (intent if intent.startswith("report_") else None)
    model = Parse(intent, confidence, (), "rasa", hint, ranking=(intent,), hint_confidence=0.4 if hint else 0.0)
    return await FallbackNlu(Scripted(model), RULES, 0.45).parse(text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [("以前俺们这条街一下大雨就淹到膝盖 后来修了排水沟 强多了", "report_water"),
     ("想当年厂里那台锅炉 烟囱天天冒黑烟", "report_fire_safety"),
     ("2号楼换了新电梯以后 上下楼方便多了", "report_property"),
     ("保洁大姐真勤快 垃圾桶边上一点味儿都没有", "report_sanitation"),
     ("小时候村里一停电 大家就搬板凳出来乘凉", "report_power_gas")],
)  # fmt: skip
async def test_times_gone_by_and_praise_are_not_reports(text: str, intent: str) -> None:
    parsed = await read(text, intent)
    assert parsed.intent == "chitchat" and parsed.report_hint is None


@pytest.mark.parametrize(
    ("text", "intent"),
    [("以前就说过 7号楼门口的下水道堵 到现在还没人通", "report_water"),
     ("东门的路灯修好以后亮多了 可是西门那盏又不亮了", "report_public_facility"),
     ("过去瞅了一眼 4号楼后面垃圾堆成山了", "report_sanitation")],
)  # fmt: skip
async def test_a_report_that_mentions_the_past_or_a_fix_stays_a_report(text: str, intent: str) -> None:
    assert (await read(text, intent)).intent == intent


@pytest.mark.parametrize(
    "text",
    ["大家注意 下周二上午小区修剪绿化带的树 车别停树底下", "提醒一下大家 周六早上八点消防演练 听到警报不用慌",
     "通知一下 明天9点到12点 3号楼停水检修", "跟大家说个事 后天电梯年检 暂停使用半天"],
)  # fmt: skip
async def test_an_announcement_of_planned_work_is_chatter(text: str) -> None:
    parsed = await read(text, "report_greenery")
    assert parsed.intent == "chitchat"


async def test_a_warning_about_a_hazard_now_is_still_a_report() -> None:
    parsed = await read("大家注意 5号楼门口井盖没了 晚上别走那边", "report_public_facility")
    assert parsed.intent == "report_public_facility"


@pytest.mark.parametrize(
    "text", ["村里的路要是也能像镇上那样装上路灯就好了", "为啥不给小区多配几个保安 人家别的小区都有"]
)
async def test_a_wish_is_other(text: str) -> None:
    assert (await read(text, "report_public_facility")).intent == "other"


async def test_an_advert_without_a_phone_number_is_other() -> None:
    parsed = await read("社区老年免费旅游 两天一晚 交三百押金回来全退 报名找我", "report_dispute")
    assert parsed.intent == "other"


async def test_the_bot_never_asks_about_a_joke() -> None:
    """The model reads chatter with a report type close behind: the bot would ask, but not when laughing."""
    joke = await read("我家那口子打呼噜跟打雷似的 能不能报个噪音扰民😂", "chitchat", 0.6, hint="report_noise")
    assert joke.report_hint is None and route(joke, "x" * 10, Situation()) is Route.IGNORE
    plain = await read("楼上好像一直有动静 也不知道是不是在装修", "chitchat", 0.6, hint="report_noise")
    assert route(plain, "楼上好像一直有动静 也不知道是不是在装修", Situation()) is Route.ASK_REPORT


async def test_unsure_without_any_keyword_the_model_s_own_no_ticket_reading_stands() -> None:
    """Below the threshold the keyword rules decide; with no keyword at all they would say chitchat,
    which would lose a consultation the model did see."""
    parsed = await read("想问下孩子上学那个材料去哪交", "consult", 0.35)
    assert parsed.intent == "consult"
    reported = await read("那边黑咕隆咚的看不清", "report_public_facility", 0.35)
    assert reported.intent == "chitchat"  # an unsure report still needs a keyword (or the bot asks)


@pytest.mark.parametrize(
    ("text", "intent"),
    [("为什么不给修电梯 5号楼电梯坏了一个礼拜了", "report_property"),
     ("水管一直在漏 要是物业能来看一下就好了", "report_water"),
     ("师傅辛苦了 5号楼电梯坏了 麻烦派人修一下", "report_property"),
     ("物业辛苦了 3栋2单元楼道灯不亮", "report_public_facility"),
     ("以前反映过的水管漏水 麻烦尽快派人看看", "report_water"),
     ("小区门口的垃圾好多了 都臭了", "report_sanitation"),
     ("大家注意 3号楼下水道堵了 12点前别往下倒水", "report_water"),
     ("提醒一下 2号门的路灯坏了好几天", "report_public_facility"),
     ("通知一下 5号门岗的栏杆被车撞坏了 明天找人修", "report_public_facility"),
     ("我家楼上漏水到我家天花板了 物业来人的话私聊我 电话13912345678", "report_water"),
     ("房东押金不退还 我电话13812345678 麻烦帮忙协调", "report_dispute")],
)  # fmt: skip
async def test_a_report_in_polite_nostalgic_or_announcing_words_stays_a_report(text: str, intent: str) -> None:
    assert (await read(text, intent)).intent == intent


@pytest.mark.parametrize("intent", ["cancel_report", "reject_resolution", "worker_resolve", "worker_accept"])
async def test_an_unsure_reading_that_would_change_a_case_does_not_stand(intent: str) -> None:
    """Below the threshold with no keyword, `那就这样吧` read as a withdrawal must not withdraw a case."""
    assert (await read("那就这样吧", intent, 0.3)).intent == "chitchat"
