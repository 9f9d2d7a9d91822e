"""Personal numbers in group posts: mainland mobiles, landlines and resident ID numbers are masked
whatever way they are written (138****5678, 0571-****2345, 110101********123X).

Residents write numbers in many spellings: `139-0000-1111`, `+8613900001111`, full-width digits
(`１３９…`), digits spaced out (`139 0000 1111`), em dashes, ideographic spaces, even zero-width
characters between the digits. Matching runs on a *normalised shadow* of the text: each character
is NFKC-folded (full-width digits and punctuation become ASCII), any Unicode decimal digit becomes
its ASCII digit, dash-like characters become `-`, spaces become ` `, and invisible format
characters (zero-width space, soft hyphen …) are dropped; every shadow character remembers which
original character it came from. A match in the shadow replaces exactly that stretch of the
original, so the rest of the post (its full-width Chinese punctuation included) is untouched.

Between two digits a number may carry a separator (one or two spaces, or a dash with an optional
space either side). What is *not* masked: ticket numbers (`#12`), dates and times (`2026-12-04
18:00`, `12月04日 18:00:00`), room numbers (`3-2-1502`), money (`1,380.50元`): they are too short,
are cut by `:`/`.`/`,`/a Chinese character, or do not start like a phone (a mobile is `1[3-9]`
and 11 digits, a landline starts with its `0` area code and has 10–12 digits, an ID is 18
characters). A number glued to further digits (`813900001111`) is a longer number, not a phone.
The 15-digit first-generation ID numbers (invalid since 2013) are not recognised: a bare 15-digit
run is more often an order or account number than an ID.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_SEP = r"(?:[ ]{1,2}|[ ]?-[ ]?)?"  # what may stand between two digits of one number
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d")

_ID_NUMBER = re.compile(rf"(?<![0-9A-Za-z])\d(?:{_SEP}\d){{16}}{_SEP}[\dXx](?![0-9A-Za-z])")
_CC = rf"(?:\(?(?:\+|00){_SEP}86\)?{_SEP}|86)"  # +86, 0086, (+86); a bare 86 only glued to the number
_MOBILE = re.compile(rf"(?<![\d+])(?P<cc>{_CC})?1{_SEP}[3-9](?:{_SEP}\d){{9}}(?!\d)")
# The area code is taken as short as the digits allow (010-12345678 is Beijing's 010, not 0101); after
# a country code it has no leading 0 (+86 571 8888 1234).
_LANDLINE = re.compile(
    rf"(?<![\d+])(?:(?P<cc>{_CC})(?P<intl>\(?[1-9](?:{_SEP}\d){{1,2}}?\)?)|(?P<area>\(?0(?:{_SEP}\d){{2,3}}?\)?))"
    rf"{_SEP}(?P<local>\d(?:{_SEP}\d){{6,7}})(?!\d)"
)


def mask_personal(text: str) -> str:
    """Group posts never show a phone or ID number in full: 138****5678, 110101********123X."""
    for pattern, masked in ((_ID_NUMBER, _masked_id), (_MOBILE, _masked_mobile), (_LANDLINE, _masked_landline)):
        text = _substitute(text, pattern, masked)
    return text


def _substitute(text: str, pattern: re.Pattern[str], masked: Callable[[re.Match[str]], str]) -> str:
    shadow, origin = _shadow(text)
    out, kept = [], 0
    for match in pattern.finditer(shadow):
        start, end = origin[match.start()], origin[match.end() - 1] + 1
        out += [text[kept:start], masked(match)]
        kept = end
    return "".join(out) + text[kept:] if out else text


def _shadow(text: str) -> tuple[str, list[int]]:
    """The normalised text to match on, and for each of its characters the index of the original one."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold(char)
        chars.append(folded)
        origin += [index] * len(folded)
    return "".join(chars), origin


def _fold(char: str) -> str:
    if char in "\n\r":
        return char  # a line break ends a number
    if char.isspace():
        return " "
    if char.isascii():
        return char
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    if char in _DASHES:
        return "-"
    if unicodedata.category(char) == "Cf":  # zero-width space and joiners, soft hyphen, BOM …
        return ""
    return unicodedata.normalize("NFKC", char)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c in "Xx")


def _masked_id(match: re.Match[str]) -> str:
    value = _digits(match.group())
    return f"{value[:6]}********{value[-4:]}"


def _masked_mobile(match: re.Match[str]) -> str:
    value = _digits(match.group())[-11:]
    prefix = "+86 " if match.group("cc") else ""
    return f"{prefix}{value[:3]}****{value[-4:]}"


def _masked_landline(match: re.Match[str]) -> str:
    local = _digits(match.group("local"))
    if match.group("cc"):
        return f"+86 {_digits(match.group('intl'))}-****{local[4:]}"
    return f"{_digits(match.group('area'))}-****{local[4:]}"
