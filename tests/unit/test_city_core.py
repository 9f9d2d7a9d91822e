"""A case from the city platform (12345) in the pure core: opened at the grid like a report, the
platform's id and deadline kept, the deadline applying to the handling clock once the worker took it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.city_push import sign, verify
from bot.messages import reserved_sender
from config.settings import Settings
from escalation import planner
from tests.unit.factories import FAST, T0, directory
from tickets import transitions
from tickets.city import CITY_REPORTER, open_city_case
from tickets.model import EventKind, Outcome, Phase, TicketState
from tickets.texts import Text
from wiring.city import CitySettingsError, city_feed

DUE = T0 + timedelta(days=3)


def city_case(deadline: object = DUE, urgent: bool = False) -> Outcome:
    return open_city_case(
        ticket_id=9, external_id="BJ12345-2026-000123", ticket_type="report_water", grid="g1", chat_id="chat-1",
        assignee="w1", location="3号楼", text="3号楼地下室漏水，来电人电话13912345678", policy=FAST, now=T0,
        deadline=DUE if deadline is DUE else None, urgent=urgent, directory=directory(),
    )  # fmt: skip


def test_a_city_case_opens_at_the_grid_with_the_platform_s_id_and_deadline() -> None:
    outcome = city_case()
    ticket = outcome.ticket
    assert (ticket.state, ticket.reporter, ticket.external_id, ticket.deadline) == (
        TicketState.REPORTED, CITY_REPORTER, "BJ12345-2026-000123", DUE
    )  # fmt: skip
    assert (ticket.clock.phase, ticket.assignee) == (Phase.ACCEPT, "w1")
    (event,) = outcome.events
    assert event.kind is EventKind.REPORTED and event.actor == CITY_REPORTER
    assert event.detail["external_id"] == "BJ12345-2026-000123" and event.detail["deadline"] == DUE.isoformat()


def test_the_group_hears_type_and_place_and_the_worker_the_words_and_the_deadline() -> None:
    group, worker = city_case().notices
    assert (group.template, group.chat_id) == (Text.CITY_CASE_OPENED, "chat-1")
    assert (worker.template, worker.person_id, worker.params["due"]) == (Text.CITY_CASE_ASSIGNED_DUE, "w1", DUE)
    assert city_case(deadline=None).notices[1].template is Text.CITY_CASE_ASSIGNED


def test_the_accept_clock_runs_first_then_the_handling_clock_aims_at_the_city_deadline() -> None:
    ticket = city_case().ticket
    assert planner.fixed_deadline(ticket) is None  # accepting runs on the policy's accept time
    assert planner.phase_end(ticket) == T0 + timedelta(seconds=FAST.accept_s)
    accepted = transitions.accept(ticket, "w1", T0 + timedelta(hours=1)).ticket
    assert accepted.clock.phase is Phase.RESOLVE and planner.phase_end(accepted) == DUE
    nag = accepted.clock.started_at + (DUE - accepted.clock.started_at) * FAST.nag_at[0]
    assert planner.next_due(accepted) == nag


def test_an_urgent_city_case_still_pings_every_tier() -> None:
    outcome = city_case(urgent=True)
    assert outcome.notices[0].template is Text.CITY_CASE_OPENED
    assert {n.person_id for n in outcome.notices if n.template is Text.OFFICER_URGENT} >= {"oc", "ot", "od"}


def test_nobody_in_a_chat_can_speak_as_the_city_platform() -> None:
    assert reserved_sender(CITY_REPORTER) and reserved_sender("１２３４５热线")


def test_pushes_are_off_without_a_url_and_refuse_to_start_without_a_secret() -> None:
    assert city_feed(Settings()) is None
    assert city_feed(Settings(city_push_url="https://city.example/events", city_push_secret="s" * 16)) is not None
    for url, secret in (("https://city.example/events", None), ("https://city.example/events", "short"),
                        ("ftp://city.example/events", "s" * 16), ("city.example/events", "s" * 16)):  # fmt: skip
        with pytest.raises(CitySettingsError):
            city_feed(Settings(city_push_url=url, city_push_secret=secret))


def test_a_signature_verifies_with_the_secret_only() -> None:
    body = b'{"id": 1, "event": "reported"}'
    signature = sign(b"s" * 16, body)
    assert signature.startswith("sha256=") and verify(b"s" * 16, body, signature)
    assert not verify(b"t" * 16, body, signature) and not verify(b"s" * 16, body + b" ", signature)
