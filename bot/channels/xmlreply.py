"""The XML of passive replies to WeChat (Official Account) and WeCom (app) callbacks, built from
fields, never by formatting text into markup: a resident's words (a place called `东门]]>` or
`A&B<C>`) end up in the bot's answers, and an f-string CDATA section ends at the first `]]>` in them.

Text goes in CDATA sections, as the platforms' documentation shows their replies (and as their
parsers are known to take them); a `]]>` inside is split across two sections (`]]` `>`), which any
XML parser joins back. Numbers are plain text. Characters XML 1.0 cannot carry at all (most control
characters, lone surrogates) are dropped rather than making the whole reply unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(text: str) -> str:
    """`text` as one or more CDATA sections that read back as exactly `text` (less non-XML chars)."""
    return "<![CDATA[" + _NOT_XML.sub("", text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_message(fields: Sequence[tuple[str, str | int]]) -> str:
    """`<xml><Tag>value</Tag>…</xml>` in the given order: strings as CDATA, ints as text."""
    parts = ["<xml>"]
    for tag, value in fields:
        if not _TAG.match(tag):
            raise ValueError(f"not an element name: {tag!r}")
        body = str(value) if isinstance(value, int) else cdata(value)
        parts.append(f"<{tag}>{body}</{tag}>")
    parts.append("</xml>")
    return "".join(parts)
