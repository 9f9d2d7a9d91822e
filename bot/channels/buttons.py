"""The buttons under the bot's case posts, shared by every platform that has them (Telegram inline
keyboards, WeCom template cards), and what a press means: exactly the command a person could type.

A press is handled as that typed text (`/接单 12`, `#12 满意` …), so a button can do nothing the
same person could not do by writing, and is refused for the same reasons. The short toast a
platform shows the presser (Telegram's callback answer, WeCom's updated card) is `toast`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tickets.texts import Text


class Action(StrEnum):
    ACCEPT = "accept"
    RESOLVE = "resolve"
    WHISTLE = "whistle"
    SATISFIED = "rate5"
    FAIR = "rate3"
    UNSATISFIED = "rate1"


@dataclass(frozen=True)
class Button:
    action: Action
    label: str
    command: str  # the typed text it stands for; {id} is the case

    def text(self, ticket_id: int) -> str:
        return self.command.format(id=ticket_id)

    def key(self, ticket_id: int) -> str:
        """A platform's opaque button key (WeCom's `event_key`): `accept:12`."""
        return f"{self.action.value}:{ticket_id}"


WORKER_BUTTONS = (
    Button(Action.ACCEPT, "接单", "/接单 {id}"),
    Button(Action.RESOLVE, "已处理", "/已处理 {id}"),
    Button(Action.WHISTLE, "吹哨", "/吹哨 {id} 请上级协调"),
)
RATING_BUTTONS = (
    Button(Action.SATISFIED, "满意", "#{id} 满意"),
    Button(Action.FAIR, "基本满意", "#{id} 基本满意"),
    Button(Action.UNSATISFIED, "不满意", "#{id} 不满意"),
)
BY_ACTION: Mapping[Action, Button] = {b.action: b for b in (*WORKER_BUTTONS, *RATING_BUTTONS)}
BUTTONS: Mapping[str, tuple[Button, ...]] = {
    Text.TICKET_OPENED: WORKER_BUTTONS, Text.TICKET_OPENED_UNLOCATED: WORKER_BUTTONS,
    Text.URGENT_OPENED: WORKER_BUTTONS, Text.URGENT_OPENED_UNLOCATED: WORKER_BUTTONS,
    Text.TICKET_RESOLVED: RATING_BUTTONS, Text.CONSULT_ANSWERED: RATING_BUTTONS,
}  # fmt: skip
MAX_KEY = 64  # longer keys are none of ours

# What a press did, said in a few words (a toast is one short line); anything else (a refusal)
# is shown as the bot's own answer, cut to the toast's length.
TOASTS: Mapping[str, str] = {
    Text.TICKET_ACCEPTED: "已接单",
    Text.TICKET_RESOLVED: "已处理，已请居民评价",
    Text.TICKET_WHISTLED: "已吹哨上报",
    Text.TICKET_RATED: "感谢您的评价",
    Text.TICKET_CONFIRMED: "感谢确认",
}
TOAST_MAX = 200  # Telegram's limit for answerCallbackQuery text
NO_ANSWER = "已收到"


def buttons_for(template: str | None, ticket_id: int | None, person_id: str | None) -> tuple[Button, ...]:
    """The buttons of a group post (a ping to one person has none)."""
    if ticket_id is None or person_id:
        return ()
    return BUTTONS.get(template or "", ())


def press(key: str) -> str | None:
    """The typed text a button key stands for (`accept:12` → `/接单 12`); None for a key that is not ours."""
    if len(key) > MAX_KEY:
        return None
    action, _, ticket = key.partition(":")
    try:
        button = BY_ACTION[Action(action)]
    except ValueError:
        return None
    if not ticket.isascii() or not ticket.isdigit() or len(ticket) > 12:
        return None
    return button.text(int(ticket))


def toast(answers: Sequence[tuple[str | None, str]]) -> str:
    """The presser's short toast from the bot's answers to the press, (template, text) each."""
    for template, _ in answers:
        if template is not None and template in TOASTS:
            return TOASTS[template]
    for _, text in answers:
        if text.strip():
            return text.strip()[:TOAST_MAX]
    return NO_ANSWER
