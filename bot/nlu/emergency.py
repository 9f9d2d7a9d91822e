"""The emergency layer: is there a present danger to people in this message?

It runs after the model, in every conversation state, and overrides what the model said. A
hazard is a pattern of a kind of danger (fire or smoke, a gas smell, someone trapped in a lift,
someone collapsed, violence, water reaching electricity, a missing child or elder, mass
poisoning, someone about to fall), not a list of sentences. A hazard does not count when the
words around it say it is not present: negated (`不是着火`, `电梯里没关人`), hypothetical or a
warning (`会不会着火`, `万一`, `谨防`), past or elsewhere (`上次着火`, `新闻说`), a figure of speech
(`跟火灾现场似的`), or the message says it is over or was a false alarm (`已经灭了`, `虚惊一场`,
`演习`), or it is a forwarded notice (`【通知】`, `[转发]`).

The admin's `emergency:` phrases of each intent file count as hazards of that intent, under the
same rules. Measured on config/corpus/groupchat.csv (every `emergency:` row must be found, no
`false alarm` row may be): see tests/unit/test_emergency.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PERSON = (
    r"(?:人|孩子|小孩|娃|老人|老太太|老大爷|大爷|大妈|大娘|奶奶|爷爷|姥姥|姥爷|老爷子|婆婆|公公|老公|老婆|媳妇|儿子|女儿|闺女|"
    r"孙子|孙女|我妈|我爸|俺娘|俺爹|我|俺|他|她|宝宝|学生|邻居|阿姨|叔叔|一家|几个)"
)
_GAS = r"(?:煤气|燃气|天然气|液化气|瓦斯|液化石油气)"
_ELECTRIC = (
    r"(?:配电箱|配电柜|配电房|配电室|电表箱|电表|电箱|电井|强电井|电缆|电闸|插座|插排|电线|"
    r"充电桩|变压器|开关箱|电梯井|电线杆)"
)
_LIFT = r"电梯(?!厅|口|前|旁|边|间|广告|按钮|费|卡(?!住|在|了)|维保|年检)"
_WEAPON = r"(?:刀|菜刀|砍刀|水果刀|棍|棒|铁棍|斧头|砖头|酒瓶|铁锹|锄头|镰刀)"


@dataclass(frozen=True)
class Hazard:
    kind: str  # fire, gas, trapped, collapse, violence, water_electric, electric, missing, poisoning, jump, fall
    intent: str  # the report type an emergency of this kind opens (when the catalog has it)
    pattern: re.Pattern[str]


def _h(kind: str, intent: str, *patterns: str) -> Hazard:
    return Hazard(kind, intent, re.compile("|".join(f"(?:{p})" for p in patterns)))


HAZARDS: tuple[Hazard, ...] = (
    _h("gas", "report_fire_safety",
       rf"{_GAS}.{{0,8}}(?:味|泄漏|泄露|漏了|漏气|在漏|外漏|呲|喷|嘶嘶|滋滋|呲呲)",
       rf"(?:{_GAS}|气)(?:管|管子|管道|罐|阀|表)(?:子)?.{{0,8}}(?:挖断|断了|破了|裂了|在漏|漏了|爆了|呲|喷气|嘶嘶|滋滋)",
       rf"(?:闻到|一股|好大|很浓|浓浓的).{{0,6}}{_GAS}", r"臭鸡蛋味",
       r"(?:煤气|一氧化碳)中毒", r"漏气了"),
    _h("fire", "report_fire_safety",
       r"着火|起火|失火|走水|火灾(?!隐患)|烧起来|火光|明火|火势|火(?:好|很|特别|老|太|越来越)大",
       r"(?:冒|有|窜|蹿|起)火苗|火苗(?:都)?(?:窜|蹿|冒|往外|好高|老高|很高|出来|好大)|烧着了|(?<![\u4e00-\u9fff])火[!！]{2,}|^火[!！]",
       r"(?:柴火垛|草垛|柴堆|麦秸|秸秆垛|房子|屋子|车|电动车|电瓶车|厨房|仓库|楼道|阳台).{0,3}(?:着了|燃了)",
       r"冒(?:黑|白|浓|青)?烟|浓烟|黑烟|烟(?:好|很|特别|老|太|越来越)大|呛得|烟雾弥漫|全是烟(?!灰|头)|都是烟(?!灰|头)",
       r"爆炸|(?:煤气罐|气罐|锅炉|电瓶|电池|充电宝|电动车).{0,4}(?:炸了|爆了)",
       rf"{_ELECTRIC}.{{0,8}}(?:冒火花|打火|火花|火星|冒蓝光|冒烟|起火|烧)",
       rf"(?:冒火花|打火花|冒火星|噼里啪啦).{{0,12}}(?:焦|糊|{_ELECTRIC})"),
    _h("trapped", "report_property",
       rf"(?:困|关|卡|锁)(?:在|住)?了?.{{0,3}}{_LIFT}",
       rf"{_LIFT}.{{0,16}}(?:困|(?:关|卡|锁)(?:住|在|了))(?:住|了|在)?.{{0,8}}{PERSON}",
       rf"{_LIFT}.{{0,20}}(?:有人|里面有|里边有|里头有|{PERSON}在里面|出不来|拍门|喊救命|救命|哭)",
       rf"{_LIFT}.{{0,12}}(?:往下掉|掉下去|坠|下滑|停在.{{0,8}}中间|卡在.{{0,8}}中间|停在半空)",
       rf"救命.{{0,12}}{_LIFT}",
       rf"被困|困住了|(?:有人|人)困|困(?:在)?里面|{PERSON}.{{0,4}}(?:锁|困|关)在.{{0,8}}(?:出不来|打不开)"),
    _h("collapse", "report_livelihood",
       r"晕倒|昏倒|晕过去|昏过去|昏迷|不省人事|叫不醒|喊不醒|没(?:了)?(?:呼吸|意识|知觉)|休克|抽搐|口吐白沫|歪下去|栽倒|瘫倒",
       r"(?:叫|喊|推|拍)(?:他|她|人)?(?:也|都)?(?:不答应|没反应|不应|不醒)",
       r"(?:倒|躺|摔)(?:在)?(?:地上|地下|门口|路边|楼道).{0,8}(?:不动|起不来|没反应|叫不醒|流血)",
       r"摔(?:倒|了|下来)?.{0,8}(?:起不来|爬不起来|不动了|流了好多血|头破)",
       r"(?:心脏病|脑溢血|中风|脑梗)(?:犯了|发作|了)",
       r"(?:独居|一个人住|孤寡|五保).{0,24}(?:敲门.{0,4}(?:没人应|不应|没反应|没人开|不开)|没人应|锁着|出事|不对劲|电话.{0,4}(?:不接|没人接))",
       r"(?:两|三|四|五|几|好几|多)天没(?:见|开门|出门|动静|见人).{0,16}(?:敲门|没人应|锁着|出事|不对劲|电话)"),
    _h("violence", "report_public_security",
       r"砍人|砍伤|砍死|捅(?:人|伤|死)|持刀|行凶|抢劫|绑架|群殴|斗殴|互殴|打群架|头破血流|家暴|动手了|喊救命|呼救",
       r"头(?:都)?(?:被)?(?:磕|撞|打)?破了",
       rf"(?:拿|拎|举|提|持)着?{_WEAPON}.{{0,20}}(?:追|砍|打人|捅(?:人|伤|死)|伤人|威胁|闯|冲|行凶|比划)",
       rf"有人(?:拿|拎|举|提|持)着?(?:刀|菜刀|砍刀|斧头)|打架.{{0,16}}(?:{_WEAPON}|流血|受伤)",
       r"(?:好几个|几个|十几个|一群|一帮|两伙|两拨)人.{0,8}(?:打起来|打架|互殴)",
       r"打(?:起来|架)了?.{0,12}(?:流血|见血|受伤|打伤|破了|躺|按在地上)",
       r"流血了|见血了|被打伤|打出血|出血了|按在地上打|(?:正在|在)打(?:架|老婆|媳妇|老公|老人)|打起来了"),
    _h("water_electric", "report_water",
       rf"水.{{0,16}}(?:漫|流|渗|淹|灌|进|到|往).{{0,8}}{_ELECTRIC}",
       rf"{_ELECTRIC}.{{0,10}}(?:进水|泡水|淹|泡在水|水里|漏水|渗水|都是水|全是水)",
       rf"淹.{{0,8}}(?:{_ELECTRIC}|电)"),
    _h("electric", "report_fire_safety", r"漏电|触电|电到人|被电(?:了|到|击)|电击"),
    _h("missing", "report_livelihood",
       r"(?:孩子|小孩|娃|儿子|女儿|闺女|孙子|孙女|男孩|女孩|老人|老太太|老爷子|我爸|我妈|俺爹|俺娘|俺爸|俺妈|爷爷|奶奶|老伴|姥姥|姥爷)"
       r".{0,12}(?:走丢|走失|丢了|找不到|找不着|(?<!看)不见了|没回来|没回家)",
       r"走丢|走失"),
    _h("poisoning", "report_public_health",
       r"(?:好几个|几个|多个|一群|很多|全家|一家|十几个|好多|七八个|五六个|\d+个).{0,16}(?:上吐下泻|中毒|吐(?!槽)|呕吐|送医|抽搐)",
       r"食物中毒|集体中毒|一下子吐了"),
    _h("jump", "report_public_security",
       r"要跳楼|想跳楼|跳楼了|坠楼|站在(?:楼顶|天台|窗台|阳台外|楼边)|坐在(?:天台|楼顶|窗台).{0,4}(?:边|栏杆)|翻过栏杆|"
       r"往.{0,4}(?:河|江|湖|水|楼下)里?跳|要跳(?:河|江|湖|楼|下去)"),
    _h("fall", "report_livelihood",
       r"(?:挂|吊|悬)在.{0,4}(?:阳台|窗|楼|栏杆)|(?:阳台|窗台|窗户)外面?.{0,4}(?:有人|有个|孩子|小孩|老人|老太太|大爷)",
       r"(?:孩子|小孩|娃).{0,8}(?:窗台|窗户外|阳台外|爬出|悬空)",
       r"落水|溺水|掉(?:进|到)?(?:河|水塘|池塘|水库|井|粪池|化粪池)里"),
)  # fmt: skip

# Just before a hazard: it is not present here and now (negated, hypothetical, a warning, past,
# elsewhere, a figure of speech: 气得冒烟, 嗓子冒烟, 心里着火).
_BEFORE = re.compile(
    r"(?:不是|并不是|不像|没|没有|并没|并非|别|不会|不要|不能|会不会|是不是会|万一|如果|要是|假如|小心|容易|防止|预防|以防|谨防|"
    r"当心|注意|担心(?!是)|怕(?!是)|防|可能会|差点|差一点|上次|上回|以前|之前|去年|前年|那次|曾经|听说|据说|新闻|以为|"
    r"昨天|昨晚|前天|上礼拜|上周|上个月|那天|快要?|要|打不|点不|打得|点得|经常|老是|总是|天天|常常|时常|每天|"
    r"心里|心|嘴里|嘴|嗓子|脑子|脑袋|眼睛|身子骨|精神|情绪|心态|随时|动不动|前两天|前几天|隔壁小区|气得|急得|热得|辣得|累得|忙得|饿得|笑得|吓得)"
    r"[^，,。！!？?\s]{0,4}$"
)
_AFTER = re.compile(
    r"^[^，,。！!？?\s]{0,4}(?:似的|一样|一般|的感觉|演习|演练|那事|的事|那个事)|^(?:都|就|的话|时|那个)"
)
_LIKE = re.compile(r"(?:(?<!好)像|跟|好比|如同|仿佛)$")
_INSIDE = re.compile(r"不是|万一|如果|要是|假如|怕(?!是)|担心(?!是)|防止|谨防|以防|还好|幸好|老化|老是|经常|总是")
# Anywhere in the message: it is over, not real, a drill, elsewhere, a joke, or explained away.
_ALL_CLEAR = re.compile(
    r"虚惊|误会|误报|谣言|辟谣|不实|假消息|搞错了|看错了|弄错了|听错了|没事(?:了|的|哈|啊|呀|儿)(?![吧?？吗])|没啥事|出院了|找回|"
    r"想当年|小时候|那会儿|那时候|临县|邻县|外县|好在没人|没人伤着|(?:同学|朋友|亲戚|同事)(?:她|他)们|是.{0,6}在(?:卤|炖|烧香|烧纸|烤|熏|炒|煮|做饭)|"
    r"不用报|别报了|不用来了|不用担心|大家放心|放心吧|别慌|"
    r"(?<!灯)(?:已经|都)灭了|火.{0,3}灭了|扑灭|浇灭|灭掉了|救出来了|放出来了|找到了|找着了|控制住了|已经过去了|(?<![晕昏])过去了(?!.{0,4}(?:快|救命))|早处理完|处理完了|"
    r"没(?:有)?(?:漏|着火|起火|烧起来|人受伤|困人|关人)|没人(?:被)?(?:困|关)|里面没人|没(?:有)?人在里面|"
    r"不是(?:着火|火灾|煤气|燃气|漏气|打架|真的|啥事|什么事|事故|咱)|原来是|哦\s*(?:是|原来)|"
    r"演习|演练|调试|维保|检修|测试|(?:是|在).{0,6}(?:烧烤|烤红薯|烤肉)(?!摊)|烟花|鞭炮|礼炮|烧完了|玩游戏|闹着玩|"
    r"(?:那个|那事|那事儿)\s*是(?:孩子|有人|人家|我家|谁家|对门|邻居|楼下|楼上)|"
    r"(?<!在)外地|外省|隔壁村的|别的(?:小区|村)|网上|视频|抖音|新闻|"
    r"😂|🤣|😵|😅|哈哈|我是说|开玩笑|"
    r"(?:烟|味|火|声|响)的?是(?:我家|谁家|隔壁|邻居|对门|楼下|楼上|饭店|店里|人家|有人|.{0,8}(?:在|排|放|烧|熏|炖|做|灌))|"
    r"打什么电话|打哪个电话|注意事项|知识|培训|宣传|^\s*(?:建议|呼吁|希望)|(?:的建议|建议书)\s*$|补贴"
)
_NOTICE = re.compile(r"^\s*(?:【|\[转发\]|转发|#?接龙|〔)|温馨提示|请大家注意|请各位|安全提醒|@所有人\s*【")


@dataclass(frozen=True)
class Emergency:
    kind: str
    intent: str
    match: str


class EmergencyDetector:
    """The built-in hazards plus the catalog's `emergency:` phrases, each mapped to the intent it opens."""

    def __init__(self, phrases: Mapping[str, Iterable[str]] = {}, known_intents: Iterable[str] = ()) -> None:
        known = set(known_intents)
        self._hazards = [h for h in HAZARDS if not known or h.intent in known]
        self._phrases = [_h("phrase", intent, *(re.escape(p) for p in ps)) for intent, ps in phrases.items() if any(ps)]

    def detect(self, text: str) -> Emergency | None:
        if not text or _NOTICE.search(text) or _ALL_CLEAR.search(text):
            return None
        for hazard in (*self._hazards, *self._phrases):
            for m in hazard.pattern.finditer(text):
                if _present(text, m.start(), m.end()):
                    return Emergency(hazard.kind, hazard.intent, m.group(0))
        return None


def _present(text: str, start: int, end: int) -> bool:
    before, found, after = text[max(0, start - 8) : start], text[start:end], text[end : end + 8]
    return not (_BEFORE.search(before) or _LIKE.search(before) or _AFTER.search(after) or _INSIDE.search(found))
