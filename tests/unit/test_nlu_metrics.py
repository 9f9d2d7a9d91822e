"""Scores of an evaluation run and the retrain quality gate."""

from __future__ import annotations

import pytest

from bot.nlu.metrics import Prediction, Row, Scores, gate, score
from bot.nlu.port import Entity


def is_report(intent: str) -> bool:
    return intent.startswith("report_")


def run(pairs: list[tuple[str, str]], entities: bool = False) -> Scores:
    rows = [
        Row(f"t{i}", gold, (Entity("building", 0, 2, "3栋"),) if entities else ()) for i, (gold, _) in enumerate(pairs)
    ]
    found = (Entity("building", 0, 2, "3栋"),)
    preds = [
        Prediction(p, found if entities and i % 2 == 0 else (), "rasa", float(i)) for i, (_, p) in enumerate(pairs)
    ]
    return score(rows, preds, is_report)


def test_ticket_f1_counts_any_report_as_a_ticket() -> None:
    s = run(
        [
            ("report_water", "report_noise"),
            ("report_water", "chitchat"),
            ("other", "report_water"),
            ("other", "chitchat"),
        ]
    )
    assert (s.ticket.precision, s.ticket.recall) == (0.5, 0.5)
    assert s.per_intent["report_water"].f1 == 0.0
    assert s.confusions[0][2] == 1


def test_chitchat_rejection_and_report_macro_over_frequent_types() -> None:
    pairs = [("chitchat", "chitchat")] * 99 + [("chitchat", "report_noise")]
    pairs += [("report_noise", "report_noise")] * 15 + [("report_water", "report_water")] * 3
    s = run(pairs)
    assert s.chitchat_never_ticketed == 0.99
    assert s.report_types == ["report_noise"]
    assert s.report_macro_f1 == pytest.approx(s.per_intent["report_noise"].f1)
    assert s.floors()["chitchat_never_ticketed"][2] is True


def test_entity_f1_is_exact_span_match() -> None:
    s = run([("report_water", "report_water")] * 4, entities=True)
    assert s.entity is not None and s.entity.recall == 0.5 and s.entity.precision == 1.0


def test_latency_percentiles() -> None:
    s = run([("chitchat", "chitchat")] * 100)
    assert (s.latency_p50_ms, s.latency_p95_ms) == (50.0, 95.0)


def test_the_gate_refuses_a_worse_candidate_and_says_why() -> None:
    good = run([("report_water", "report_water"), ("other", "other"), ("chitchat", "chitchat")])
    worse = run([("report_water", "report_water"), ("other", "report_water"), ("chitchat", "chitchat")])
    assert gate(good, None).passed
    assert gate(good, worse).passed
    verdict = gate(worse, good)
    assert not verdict.passed and "ticket_f1" in verdict.reason
