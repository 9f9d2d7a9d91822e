"""Small builders for the pure core: the demo directory and the fast policy, without YAML."""

from __future__ import annotations

from datetime import UTC, datetime

from tickets import transitions
from tickets.directory import Department, Directory, Node, Person, Role
from tickets.model import LadderStep, SlaPolicy, Ticket, Tier

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

FAST = SlaPolicy(
    name="fast",
    accept_s=4,
    resolve_s=8,
    nag_at=(0.5,),
    ladder=(
        LadderStep(Tier.COMMUNITY, 4),
        LadderStep(Tier.TOWNSHIP, 4),
        LadderStep(Tier.DISTRICT, 4),
        LadderStep(Tier.DEPARTMENT, 4),
    ),
)


def directory() -> Directory:
    return Directory(
        nodes=[
            Node("d", "示范区", Tier.DISTRICT, None),
            Node("t", "幸福街道", Tier.TOWNSHIP, "d"),
            Node("c", "阳光社区", Tier.COMMUNITY, "t"),
            Node("g1", "第1网格", Tier.GRID, "c", "chat-1"),
            Node("g2", "第2网格", Tier.GRID, "c", "chat-2"),
        ],
        people=[
            Person("w1", "李建国", Role.WORKER, "g1"),
            Person("w2", "王秀英", Role.WORKER, "g2"),
            Person("oc", "钱书记", Role.OFFICER, "c"),
            Person("ot", "赵主任", Role.OFFICER, "t"),
            Person("od", "吴主任", Role.OFFICER, "d"),
            Person("dp", "何科长", Role.OFFICER, None),
            Person("admin", "管理员", Role.ADMIN, None),
        ],
        departments=[Department("cg", "城管局", ("dp",))],
    )


def new_ticket(reporter: str = "张阿姨", now: datetime = T0, policy: SlaPolicy = FAST, draft: bool = False) -> Ticket:
    return transitions.open_ticket(
        ticket_id=7,
        ticket_type="report_sanitation",
        grid="g1",
        chat_id="chat-1",
        reporter=reporter,
        assignee="w1",
        location="3号楼",
        text="3号楼门口垃圾没人收",
        policy=policy,
        now=now,
        draft=draft,
    ).ticket
