"""Scores for an NLU run over labelled rows, and the quality gate that compares two runs. Pure.

"Should it open a ticket": a row is a ticket when its label is a report intent (report_* or any
intent with a `ticket:` section); consult, chitchat, `other` and the follow-ups are not.
Entity F1 counts exact (type, start, end) matches, over the entity types the gold file annotates.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.nlu.port import Entity

MIN_TYPE_ROWS = 15  # report types with fewer gold rows are left out of the report macro-F1
FLOORS = {"chitchat_never_ticketed": 0.99, "ticket_f1": 0.90, "report_macro_f1": 0.82}
GROUPCHAT_FLOORS = {"accuracy": 0.92, "chatter_never_ticketed": 0.99, "emergency_recall": 1.0}
GATE_TOLERANCE = 0.01  # a candidate may lose at most one point on any headline figure
GATE_METRICS = ("accuracy", "ticket_f1", "macro_f1", "report_macro_f1", "chitchat_never_ticketed",
                "chatter_never_ticketed")  # fmt: skip
CHATTER = ("chitchat", "other")
# Coarse classes for the confusion table: what kind of thing the bot took a message for.
COARSE = {"chitchat": "chatter", "other": "chatter", "consult": "consult", "ask_status": "follow-up",
          "cancel_report": "follow-up", "confirm_resolved": "follow-up", "reject_resolution": "follow-up",
          "worker_accept": "worker", "worker_progress": "worker", "worker_resolve": "worker",
          "escalate_request": "worker"}  # fmt: skip


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    entities: tuple[Entity, ...] = ()
    role: str = ""  # resident | worker | officer ("" = resident, or a file without roles)
    context: str = ""  # reply_to_ticket_post | awaiting_location | after_resolve
    note: str = ""  # `emergency: …` rows must page every tier; `false alarm` rows must not

    @property
    def emergency(self) -> bool:
        return "emergency:" in self.note and "not an emergency" not in self.note

    @property
    def false_alarm(self) -> bool:
        return "false alarm" in self.note


@dataclass(frozen=True)
class Prediction:
    intent: str
    entities: tuple[Entity, ...]
    source: str
    latency_ms: float
    urgent: bool = False  # took the emergency path
    route: str = ""  # the handler the bot chose (ask_report: it asked the sender)
    confidence: float = 0.0  # the model's (or the rules') confidence in the intent it read
    model_intent: str = ""  # what the NLU stack said before the dialogue layer


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    support: int

    @classmethod
    def of(cls, tp: int, fp: int, fn: int) -> PRF:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return cls(round(p, 4), round(r, 4), round(2 * p * r / (p + r), 4) if p + r else 0.0, tp + fn)


@dataclass(frozen=True)
class Scores:
    rows: int
    per_intent: dict[str, PRF]
    macro_f1: float
    report_macro_f1: float
    report_types: list[str]
    ticket: PRF
    chitchat_never_ticketed: float | None
    entity: PRF | None
    confusions: list[tuple[str, str, int]]
    latency_p50_ms: float
    latency_p95_ms: float
    sources: dict[str, int] = field(default_factory=dict)
    accuracy: float = 0.0
    accuracy_by_role: dict[str, float] = field(default_factory=dict)
    accuracy_by_context: dict[str, float] = field(default_factory=dict)
    chatter_never_ticketed: float | None = None  # chitchat and `other` rows that opened no ticket
    ask_rate: float = 0.0  # rows the bot asked about ("您是要反映…吗？")
    emergencies: int = 0
    emergency_recall: float | None = None
    false_alarms: int = 0
    false_alarms_paged: int = 0
    coarse: dict[str, dict[str, int]] = field(default_factory=dict)  # gold class → predicted class → rows

    @property
    def ticket_f1(self) -> float:
        return self.ticket.f1

    def floors(self) -> dict[str, tuple[float | None, float, bool]]:
        values: dict[str, float | None] = {
            "chitchat_never_ticketed": self.chitchat_never_ticketed, "ticket_f1": self.ticket_f1,
            "report_macro_f1": self.report_macro_f1, "accuracy": self.accuracy,
            "chatter_never_ticketed": self.chatter_never_ticketed, "emergency_recall": self.emergency_recall,
        }  # fmt: skip
        floors = {**FLOORS, **GROUPCHAT_FLOORS}
        return {k: (values[k], f, (values[k] or 0.0) >= f) for k, f in floors.items() if values[k] is not None}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ticket_f1"] = self.ticket_f1
        data["floors"] = {k: {"value": v, "floor": f, "met": m} for k, (v, f, m) in self.floors().items()}
        return data


def score(
    rows: Sequence[Row], predictions: Sequence[Prediction], is_report: Callable[[str], bool], top_confusions: int = 15
) -> Scores:
    if len(rows) != len(predictions):
        raise ValueError("one prediction per row")
    gold = [r.label for r in rows]
    pred = [p.intent for p in predictions]
    labels = sorted(set(gold))
    per_intent = {label: _prf_for(label, gold, pred) for label in labels}
    counts = Counter(gold)
    report_types = [t for t in labels if is_report(t) and counts[t] >= MIN_TYPE_ROWS]
    chat = [p for r, p in zip(rows, predictions, strict=True) if r.label == "chitchat"]
    confusions = Counter((g, p) for g, p in zip(gold, pred, strict=True) if g != p)
    latencies = sorted(p.latency_ms for p in predictions)
    return Scores(
        rows=len(rows),
        per_intent=per_intent,
        macro_f1=_mean([per_intent[t].f1 for t in labels]),
        report_macro_f1=_mean([per_intent[t].f1 for t in report_types]),
        report_types=report_types,
        ticket=_binary([is_report(g) for g in gold], [_ticketed(p, is_report) for p in predictions]),
        chitchat_never_ticketed=round(sum(not _ticketed(p, is_report) for p in chat) / len(chat), 4) if chat else None,
        entity=_entities(rows, predictions),
        confusions=[(g, p, n) for (g, p), n in confusions.most_common(top_confusions)],
        latency_p50_ms=round(_percentile(latencies, 0.50), 1),
        latency_p95_ms=round(_percentile(latencies, 0.95), 1),
        sources=dict(Counter(p.source for p in predictions)),
        **_reading(rows, predictions, is_report),
    )


def _reading(
    rows: Sequence[Row], predictions: Sequence[Prediction], is_report: Callable[[str], bool]
) -> dict[str, Any]:
    """The figures of the whole reading: accuracy (overall, per role, per context), chatter kept
    out, how often the bot asks, emergencies taken and false alarms paged, the coarse confusions."""
    pairs = list(zip(rows, predictions, strict=True))
    chatter = [p for r, p in pairs if r.label in CHATTER]
    emergencies = [p for r, p in pairs if r.emergency]
    coarse: dict[str, Counter[str]] = {}
    for r, p in pairs:
        coarse.setdefault(_coarse(r.label, is_report), Counter())[_coarse(p.intent, is_report)] += 1
    return {
        "accuracy": _accuracy(pairs),
        "accuracy_by_role": {role: _accuracy([(r, p) for r, p in pairs if (r.role or "resident") == role])
                             for role in sorted({r.role or "resident" for r in rows})},
        "accuracy_by_context": {ctx: _accuracy([(r, p) for r, p in pairs if (r.context or "none") == ctx])
                                for ctx in sorted({r.context or "none" for r in rows})},
        "chatter_never_ticketed": round(sum(not _ticketed(p, is_report) for p in chatter) / len(chatter), 4)
        if chatter else None,
        "ask_rate": round(sum(p.route == "ask_report" for p in predictions) / len(predictions), 4),
        "emergencies": len(emergencies),
        "emergency_recall": round(sum(p.urgent for p in emergencies) / len(emergencies), 4) if emergencies else None,
        "false_alarms": sum(r.false_alarm for r in rows),
        "false_alarms_paged": sum(p.urgent for r, p in pairs if r.false_alarm),
        "coarse": {g: dict(c) for g, c in sorted(coarse.items())},
    }  # fmt: skip


def _accuracy(pairs: Sequence[tuple[Row, Prediction]]) -> float:
    return round(sum(r.label == p.intent for r, p in pairs) / len(pairs), 4) if pairs else 0.0


def _ticketed(p: Prediction, is_report: Callable[[str], bool]) -> bool:
    """A ticket opened: a report the bot acted on (a question it asked is not a ticket)."""
    return is_report(p.intent) and p.route != "ask_report"


def _coarse(intent: str, is_report: Callable[[str], bool]) -> str:
    return "report" if is_report(intent) else COARSE.get(intent, intent)


def _prf_for(label: str, gold: list[str], pred: list[str]) -> PRF:
    pairs = list(zip(gold, pred, strict=True))
    tp = sum(g == p == label for g, p in pairs)
    fp = sum(p == label != g for g, p in pairs)
    fn = sum(g == label != p for g, p in pairs)
    return PRF.of(tp, fp, fn)


def _binary(gold: list[bool], pred: list[bool]) -> PRF:
    pairs = list(zip(gold, pred, strict=True))
    return PRF.of(
        sum(g and p for g, p in pairs), sum(p and not g for g, p in pairs), sum(g and not p for g, p in pairs)
    )


def _entities(rows: Sequence[Row], predictions: Sequence[Prediction]) -> PRF | None:
    kinds = {e.entity for r in rows for e in r.entities}
    if not kinds:
        return None
    tp = fp = fn = 0
    for row, prediction in zip(rows, predictions, strict=True):
        gold = {(e.entity, e.start, e.end) for e in row.entities}
        found = {(e.entity, e.start, e.end) for e in prediction.entities if e.entity in kinds}
        tp, fp, fn = tp + len(gold & found), fp + len(found - gold), fn + len(gold - found)
    return PRF.of(tp, fp, fn)


def _mean(values: list[float]) -> float:
    return round(statistics.mean(values), 4) if values else 0.0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    candidate: dict[str, float | None]
    baseline: dict[str, float | None] | None


def gate_numbers(scores: Scores) -> dict[str, float | None]:
    return {
        "accuracy": scores.accuracy, "ticket_f1": scores.ticket_f1, "macro_f1": scores.macro_f1,
        "report_macro_f1": scores.report_macro_f1, "chitchat_never_ticketed": scores.chitchat_never_ticketed,
        "chatter_never_ticketed": scores.chatter_never_ticketed, "emergency_recall": scores.emergency_recall,
    }  # fmt: skip


def gate(candidate: Scores, baseline: Scores | None, tolerance: float = GATE_TOLERANCE) -> Verdict:
    """Activate only if the candidate takes every emergency of the held-out rows and is not worse
    than the active model by more than `tolerance` on any headline figure."""
    numbers = gate_numbers(candidate)
    if candidate.emergency_recall is not None and candidate.emergency_recall < 1.0:
        missed = round((1 - candidate.emergency_recall) * candidate.emergencies)
        return Verdict(False, f"misses {missed} of {candidate.emergencies} emergencies", numbers,
                       gate_numbers(baseline) if baseline else None)  # fmt: skip
    if baseline is None:
        return Verdict(True, "no active model to compare with", numbers, None)
    base = gate_numbers(baseline)
    worse = [
        f"{name} {numbers[name]:.3f} < {base[name]:.3f}"
        for name in GATE_METRICS
        if base[name] is not None and (numbers[name] or 0.0) < (base[name] or 0.0) - tolerance
    ]
    if worse:
        return Verdict(False, "worse than the active model: " + "; ".join(worse), numbers, base)
    return Verdict(True, "not worse than the active model on " + ", ".join(GATE_METRICS), numbers, base)
