"""Where one message holds several problems: its parts, split only where people list things.

`6号楼路灯坏了 楼下也有人乱停车`, `井盖没了 还有垃圾桶满了`, `1.路灯坏了 2.井盖没了`: split at a
listing cue (还有, 另外, 对了, 顺便, …), at a clause that says "also" (…也…), or at an enumeration
(1. 2. / ① ② / 一是 二是). Plain clauses of one story (`流浪狗好多 咬人了`) stay together. Whether
each part is a report of its own type is the model's call (see `Dispatcher`).
"""

from __future__ import annotations

import re

_CUE = r"(?:还有|另外|另一个|另一件|再就是|再有|顺便|对了|以及|同时|此外)"
_SPLIT = re.compile(
    rf"[，,。；;！!\s]+(?={_CUE})"
    r"|[，,。；;！!\s]+(?=[^，,。；;！!\s]{1,8}也(?:有|在|是|坏|没|不|被|堵|漏|乱))"
    r"|(?:^|[，,。；;！!\s]+)(?:\d{1,2}\s*[.、)）]|[①②③④⑤⑥]|[一二三四五六]是)\s*"
)
MIN_PART = 4


def parts(text: str) -> list[str]:
    """The message's parts (one part when nothing is listed)."""
    pieces = [p.strip(" ，,。；;！!") for p in _SPLIT.split(text)]
    return [p for p in pieces if len(p) >= MIN_PART] or [text]
