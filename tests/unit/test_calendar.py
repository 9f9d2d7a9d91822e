"""The working calendar and the planner on it, table-driven with a fake clock (Beijing time)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from escalation import planner
from escalation.calendar import LOCAL, WorkCalendar, is_workday
from escalation.planner import Action
from tests.unit.factories import FAST, directory, new_ticket
from tickets.model import LadderStep, Phase, SlaPolicy, Tier

QUIET = (21 * 60, 7 * 60 + 30)  # 21:00-07:30
OFFICE = (8 * 60 + 30, 17 * 60 + 30)  # 08:30-17:30


def bj(*args: int) -> datetime:
    """A Beijing wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=LOCAL).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "workday"),
    [((2026, 10, 1), False),   # 国庆节
     ((2026, 10, 8), True),    # the Thursday after it
     ((2026, 10, 10), True),   # a make-up Saturday (调休上班)
     ((2026, 11, 28), False),  # an ordinary Saturday
     ((2026, 11, 30), True),   # an ordinary Monday
     ((2031, 3, 3), True)],    # beyond the holiday data: Monday-Friday
)  # fmt: skip
def test_workdays_follow_the_statutory_calendar(day: tuple[int, int, int], workday: bool) -> None:
    assert is_workday(datetime(*day).date()) is workday


@pytest.mark.parametrize(
    ("due", "fires"),
    [(bj(2026, 11, 30, 23, 0), bj(2026, 12, 1, 7, 30)),   # late evening → next morning
     (bj(2026, 11, 30, 6, 0), bj(2026, 11, 30, 7, 30)),   # early morning → same morning
     (bj(2026, 11, 30, 21, 0), bj(2026, 12, 1, 7, 30)),   # the first quiet minute
     (bj(2026, 11, 30, 7, 30), bj(2026, 11, 30, 7, 30)),  # the end of quiet hours is not quiet
     (bj(2026, 11, 30, 12, 0), bj(2026, 11, 30, 12, 0))],
)  # fmt: skip
def test_quiet_hours_defer_to_their_end(due: datetime, fires: datetime) -> None:
    assert WorkCalendar(quiet=QUIET).fire_at(due) == fires


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [(bj(2026, 11, 30, 9, 0), 2, bj(2026, 11, 30, 11, 0)),      # inside one working day
     (bj(2026, 11, 27, 16, 0), 4, bj(2026, 11, 30, 11, 0)),     # Friday 16:00 + 4h → Monday 11:00
     (bj(2026, 11, 28, 10, 0), 1, bj(2026, 11, 30, 9, 30)),     # reported on Saturday: counts from Monday
     (bj(2026, 9, 30, 17, 0), 2, bj(2026, 10, 8, 10, 0)),       # across the National Day holiday
     (bj(2026, 10, 9, 17, 0), 2, bj(2026, 10, 10, 10, 0)),      # onto a make-up Saturday
     (bj(2026, 11, 30, 20, 0), 1, bj(2026, 12, 1, 9, 30))],     # after hours: from the next opening
)  # fmt: skip
def test_working_time_counts_only_office_hours_of_workdays(start: datetime, hours: float, end: datetime) -> None:
    assert WorkCalendar(working=OFFICE).after(start, hours * 3600) == end


def policy(**changes: object) -> SlaPolicy:
    base = {"name": "cal", "accept_s": 3600, "resolve_s": 7200, "nag_at": (0.5,),
            "ladder": (LadderStep(Tier.COMMUNITY, 3600), LadderStep(Tier.TOWNSHIP, 3600))}  # fmt: skip
    return SlaPolicy(**{**base, **changes})  # type: ignore[arg-type]


def times(ticket: object) -> list[tuple[datetime, Action, Tier]]:
    return [(s.at, s.action, s.tier) for s in planner.schedule(ticket)]  # type: ignore[arg-type]


def test_a_late_report_nags_and_escalates_in_the_morning_and_the_next_tier_gets_its_full_ack() -> None:
    t = new_ticket(now=bj(2026, 11, 30, 20, 0), policy=policy(quiet=QUIET))
    assert times(t) == [
        (bj(2026, 11, 30, 20, 30), Action.NAG, Tier.GRID),  # before quiet hours: as planned
        (bj(2026, 12, 1, 7, 30), Action.ESCALATE, Tier.COMMUNITY),  # due 21:00, deferred
        (bj(2026, 12, 1, 8, 30), Action.ESCALATE, Tier.TOWNSHIP),  # an hour after the deferred ping
    ]


def test_an_urgent_case_runs_round_the_clock_whatever_the_policy_says() -> None:
    late = bj(2026, 11, 30, 23, 0)
    t = replace(new_ticket(now=late, policy=policy(quiet=QUIET, working=OFFICE)), urgent=True)
    assert [at for at, _, _ in times(t)] == [late + timedelta(minutes=30), late + timedelta(hours=1),
                                             late + timedelta(hours=2)]  # fmt: skip


def test_working_time_moves_every_step() -> None:
    t = new_ticket(now=bj(2026, 11, 27, 17, 0), policy=policy(working=OFFICE))  # Friday 17:00
    assert times(t) == [
        (bj(2026, 11, 27, 17, 30), Action.NAG, Tier.GRID),  # 30 min: 17:00-17:30 Friday
        (bj(2026, 11, 30, 9, 0), Action.ESCALATE, Tier.COMMUNITY),
        (bj(2026, 11, 30, 10, 0), Action.ESCALATE, Tier.TOWNSHIP),
    ]


def test_repeat_reminds_the_same_tier_before_climbing() -> None:
    ladder = (LadderStep(Tier.COMMUNITY, 4, repeat=2), LadderStep(Tier.TOWNSHIP, 4))
    t = new_ticket(policy=FAST.__class__(**{**FAST.__dict__, "ladder": ladder}))
    start = t.clock.started_at
    assert [(s.at - start, s.action, s.tier) for s in planner.schedule(t)] == [
        (timedelta(seconds=2), Action.NAG, Tier.GRID),
        (timedelta(seconds=4), Action.ESCALATE, Tier.COMMUNITY),
        (timedelta(seconds=8), Action.REMIND, Tier.COMMUNITY),
        (timedelta(seconds=12), Action.REMIND, Tier.COMMUNITY),
        (timedelta(seconds=16), Action.ESCALATE, Tier.TOWNSHIP),
    ]
    at_community = planner.fire(t, None, directory(), start + timedelta(seconds=4))
    assert at_community is not None
    reminded = planner.fire(at_community.ticket, None, directory(), start + timedelta(seconds=8))
    assert reminded is not None
    assert reminded.ticket.tier is Tier.COMMUNITY
    assert [(n.template, n.person_id) for n in reminded.notices] == [("officer_reminded", "oc")]
    assert [e.kind for e in reminded.events] == ["reminded"]


def test_the_phase_deadline_counts_the_same_time() -> None:
    t = new_ticket(now=bj(2026, 11, 27, 17, 0), policy=policy(working=OFFICE))
    assert t.clock.phase is Phase.ACCEPT
    assert planner.phase_end(t) == bj(2026, 11, 30, 9, 0)
