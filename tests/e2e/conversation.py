"""Conversations written as data: who says what, and what must follow. See conversations/README.md.

A script is run step by step against a real bot process over its HTTP API; every failure names the
script, the step number and what was expected versus what the bot did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.helpers import Api

STEP_KINDS = ("say", "wait", "inbox", "ticket", "tickets", "sleep")
SAY_CHECKS = {"replies", "reply", "not_reply", "save", "ticket", "tickets", "inbox", "no_inbox"}


class ScriptError(AssertionError):
    pass


@dataclass
class Script:
    path: Path
    name: str
    steps: list[dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)
    rasa: bool = False  # needs the trained model's reading: not run on the in-process (rules) bot
    nlu: dict[str, Any] = field(default_factory=dict)  # in process: the model's reading of these texts
    scripted: bool = False  # depends on the scripted readings (an unsure model): in process only
    days: bool = False  # lets hours or days pass (`sleep`): in process only, where the clock is the test's

    @classmethod
    def load(cls, path: Path) -> Script:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
            raise ScriptError(f"{path.name}: needs `name` and a non-empty `steps` list")
        for n, step in enumerate(data["steps"], start=1):
            if not any(k in step for k in STEP_KINDS) or ("say" in step and "wait" in step):
                raise ScriptError(f"{path.name} step {n}: one of {STEP_KINDS} (say and wait apart), got {sorted(step)}")
            unknown = set(step) - SAY_CHECKS - set(STEP_KINDS) - {"note"}
            if unknown:
                raise ScriptError(f"{path.name} step {n}: unknown keys {sorted(unknown)}")
        env = {str(k): str(v) for k, v in (data.get("env") or {}).items()}
        readings = {str(k).strip(): v for k, v in (data.get("nlu") or {}).items()}
        name = str(data.get("name") or path.stem)
        return cls(path, name, data["steps"], env, bool(data.get("rasa")), readings, bool(data.get("scripted")),
                   bool(data.get("days")))  # fmt: skip


class Runner:
    def __init__(self, script: Script, api: Api) -> None:
        self.script = script
        self.api = api
        self.vars: dict[str, Any] = {}
        self.last: dict[str, Any] = {}
        self.n = 0

    def run(self) -> None:
        for n, step in enumerate(self.script.steps, start=1):
            self.n = n
            if "say" in step:
                self.say(step)
            elif "wait" in step:
                self.wait(step["wait"])
            elif "sleep" in step:
                self.pause(float(step["sleep"]))
            if "ticket" in step and "say" not in step:
                self.check_ticket(step["ticket"])
            if "inbox" in step and "say" not in step:
                self.check_inbox(step["inbox"])
            if "tickets" in step and "say" not in step:
                self.check_count(step["tickets"])
            if "no_inbox" in step and "say" not in step:
                self.check_inbox(step["no_inbox"], present=False)

    # --- steps ---------------------------------------------------------------------------------

    def say(self, step: dict[str, Any]) -> None:
        said = step["say"]
        chat, sender, text = (self.sub(x) for x in said[:3]) if isinstance(said, list) else (None, None, None)
        if isinstance(said, dict):
            chat, sender, text = self.sub(said["chat"]), self.sub(said["as"]), self.sub(said.get("text", ""))
        reply_to = self._reply_to(said) if isinstance(said, dict) else None
        body: dict[str, Any] = {"sender": sender, "text": text, "reply_to": reply_to}
        if isinstance(said, dict) and said.get("attachments"):
            body["attachments"] = said["attachments"]
        response = self.api.http.post(f"/chats/{chat}/messages", json=body)
        self.expect(response.status_code == 201, f"POST said {response.status_code}: {response.text}")
        self.last = response.json()
        replies = self.last["replies"]
        joined = "\n".join(r["text"] for r in replies)
        if "replies" in step:
            self.expect(len(replies) == step["replies"], f"{step['replies']} replies expected, got {joined!r}")
        for part in _list(step.get("reply")):
            self.expect(self.sub(part) in joined, f"reply should contain {self.sub(part)!r}; got {joined!r}")
        for part in _list(step.get("not_reply")):
            self.expect(self.sub(part) not in joined, f"reply must not contain {self.sub(part)!r}; got {joined!r}")
        for name, what in (step.get("save") or {}).items():
            self.vars[name] = self._saved(what, replies)
        if "ticket" in step:
            self.check_ticket(step["ticket"])
        if "tickets" in step:
            self.check_count(step["tickets"])
        if "inbox" in step:
            self.check_inbox(step["inbox"])
        if "no_inbox" in step:
            self.check_inbox(step["no_inbox"], present=False)

    def pause(self, seconds: float) -> None:
        """Let time pass: the in-process bot's clock moves (and due steps fire), a process waits."""
        advance = getattr(self.api, "advance", None)
        if advance is not None:
            advance(seconds)
        else:
            time.sleep(seconds)

    def wait(self, spec: dict[str, Any]) -> None:
        within = float(spec.get("within", 10))
        fields = {k: v for k, v in spec.items() if k != "within"}
        waited, last = 0.0, ""
        while waited <= within:
            last = self._ticket_mismatch(fields)
            if not last:
                return
            self.pause(0.2)
            waited += 0.2
        self.expect(False, f"within {within}s: {last}")

    def check_ticket(self, spec: dict[str, Any]) -> None:
        mismatch = self._ticket_mismatch(spec)
        self.expect(not mismatch, mismatch)

    def check_count(self, spec: dict[str, Any]) -> None:
        params = {k: self.sub(v) for k, v in spec.items() if k in ("chat_id", "state", "type")}
        found = self.api.http.get("/tickets", params=params).json()["tickets"]
        self.expect(len(found) == spec["count"], f"{spec['count']} tickets for {params} expected, got {len(found)}")

    def check_inbox(self, spec: dict[str, Any], present: bool = True) -> None:
        person, needle = self.sub(spec["person"]), self.sub(spec["contains"])
        texts = [m["text"] for m in self.api.inbox(person)]
        hit = any(needle in t for t in texts)
        self.expect(hit == present, f"{person}'s inbox {'lacks' if present else 'has'} {needle!r}: {texts[-4:]}")

    # --- helpers -------------------------------------------------------------------------------

    def _ticket_mismatch(self, spec: dict[str, Any]) -> str:
        ticket_id = self.vars.get(spec["id"], spec["id"])
        ticket = self.api.ticket(int(ticket_id))
        for key, want in spec.items():
            if key == "id":
                continue
            if key == "events":  # these kinds appear in this order (others may come between)
                kinds = [e["kind"] for e in ticket["events"]]
                if not _subsequence(want, kinds):
                    return f"ticket #{ticket_id} events {kinds} lack {want} in order"
                continue
            if key == "actors":  # {kind: actor}: who did it, as the timeline says
                for kind, actor in want.items():
                    actors = [e["actor"] for e in ticket["events"] if e["kind"] == kind]
                    if self.sub(actor) not in actors:
                        return f"ticket #{ticket_id}: {kind} by {actors}, expected {actor}"
                continue
            have = ticket.get(key)
            want_value = self.sub(want) if isinstance(want, str) else want
            if key == "location" and isinstance(want_value, str):
                if want_value not in (have or ""):
                    return f"ticket #{ticket_id} location {have!r} lacks {want_value!r}"
            elif isinstance(want_value, dict) and isinstance(have, dict):  # these keys have these values
                off = {k: have.get(k) for k, v in want_value.items() if have.get(k) != self.sub(v)}
                if off:
                    return f"ticket #{ticket_id} {key}: {off}, expected {want_value!r}"
            elif have != want_value:
                return f"ticket #{ticket_id} {key} = {have!r}, expected {want_value!r}"
        return ""

    def _reply_to(self, said: dict[str, Any]) -> int | None:
        ref = said.get("reply_to")
        if ref is None:
            return None
        if ref == "last":
            return int(self.last["replies"][0]["message_id"])
        return int(self.vars[ref])

    def _saved(self, what: str, replies: list[dict[str, Any]]) -> Any:
        if what == "message_id":
            return self.last["message_id"]
        self.expect(bool(replies), f"nothing to save as {what}: no reply")
        return replies[0][what if what != "reply_id" else "message_id"]

    def sub(self, value: Any) -> Any:
        return value.format(**self.vars) if isinstance(value, str) else value

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            raise ScriptError(f"{self.script.path.name} step {self.n}: {what}")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _subsequence(want: list[str], have: list[str]) -> bool:
    it = iter(have)
    return all(any(k == h for h in it) for k in want)
