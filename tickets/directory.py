"""The four-level grid, the people who serve in it, and who is responsible at each tier."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType

from tickets.geo import Point, Shape, containing
from tickets.model import Tier


class Role(StrEnum):
    WORKER = "worker"
    OFFICER = "officer"
    ADMIN = "admin"


NODE_TIERS = (Tier.DISTRICT, Tier.TOWNSHIP, Tier.COMMUNITY, Tier.GRID)


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    tier: Tier
    parent: str | None
    chat_id: str | None = None
    boundary: Shape | None = None  # the map: a multipolygon of (lng, lat) rings (`tickets.geo`)
    buildings: tuple[tuple[str, Point], ...] = ()  # named points inside it (3号楼 → (lng, lat))


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: Role
    node: str | None


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    people: tuple[str, ...]
    types: tuple[str, ...] = ()  # incident types it handles; empty = any


class DirectoryError(ValueError):
    pass


class Directory:
    """An immutable, validated view of the grid tree. Lookups are dict-based and O(depth)."""

    def __init__(
        self,
        nodes: Iterable[Node],
        people: Iterable[Person],
        departments: Iterable[Department] = (),
    ) -> None:
        self.nodes: Mapping[str, Node] = MappingProxyType({n.id: n for n in nodes})
        self.people: Mapping[str, Person] = MappingProxyType({p.id: p for p in people})
        self.departments: tuple[Department, ...] = tuple(departments)
        self._by_chat = MappingProxyType({n.chat_id: n for n in self.nodes.values() if n.chat_id})
        self._at_node: dict[tuple[str | None, Role], list[Person]] = {}
        for p in self.people.values():
            self._at_node.setdefault((p.node, p.role), []).append(p)
        self._grid_shapes = MappingProxyType(
            {n.id: n.boundary for n in self.nodes.values() if n.tier is Tier.GRID and n.boundary}
        )
        _validate(self)

    @cached_property
    def _subtrees(self) -> Mapping[str, frozenset[str]]:
        """Every node → the ids at and under it (built once: a province has thousands of nodes)."""
        under: dict[str, set[str]] = {n: set() for n in self.nodes}
        for node_id in self.nodes:
            for up in self.chain(node_id):
                under[up.id].add(node_id)
        return MappingProxyType({n: frozenset(ids) for n, ids in under.items()})

    @cached_property
    def _staff(self) -> Mapping[str, tuple[str, ...]]:
        """Every node → the grid workers serving at or below it (each worker's chain walked once)."""
        out: dict[str, list[str]] = {}
        for p in self.people.values():
            if p.role is Role.WORKER and p.node is not None and p.node in self.nodes:
                for n in self.chain(p.node):
                    out.setdefault(n.id, []).append(p.id)
        return MappingProxyType({n: tuple(ids) for n, ids in out.items()})

    def workers_under(self, node_id: str) -> tuple[str, ...]:
        """The grid workers at or below the node, in the directory's order."""
        return self._staff.get(node_id, ())

    def under(self, node_id: str) -> frozenset[str]:
        """The ids of the node and every node below it (empty for an unknown node)."""
        return self._subtrees.get(node_id, frozenset())

    def grids_under(self, node_id: str) -> frozenset[str]:
        """The micro-grids at or below the node."""
        return frozenset(n for n in self.under(node_id) if self.nodes[n].tier is Tier.GRID)

    def children(self, node_id: str | None) -> list[Node]:
        """The nodes right below `node_id` (None: the roots), by id."""
        return sorted((n for n in self.nodes.values() if n.parent == node_id), key=lambda n: n.id)

    def grid_at(self, at: Point, under: str | None = None) -> Node | None:
        """The micro-grid whose boundary contains the point, optionally only among those below `under`."""
        shapes = self._grid_shapes
        if under is not None:
            shapes = MappingProxyType({g: s for g, s in shapes.items() if any(n.id == under for n in self.chain(g))})
        found = containing(shapes, at)
        return self.nodes[found] if found else None

    def with_routes(self, routes: Mapping[str, str]) -> Directory:
        """Departments named for a ticket type (by the intent files) also take that type.
        A catch-all department (no `types`) stays a catch-all."""
        if not routes:
            return self
        departments = [
            replace(d, types=(*d.types, *(t for t, dep in routes.items() if dep == d.id and t not in d.types)))
            if d.types
            else d
            for d in self.departments
        ]
        return Directory(self.nodes.values(), self.people.values(), departments)

    def grid_for_chat(self, chat_id: str) -> Node | None:
        return self._by_chat.get(chat_id)

    def person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    def chain(self, node_id: str) -> list[Node]:
        """The node and its ancestors, bottom-up."""
        out: list[Node] = []
        current: str | None = node_id
        while current is not None:
            node = self.nodes[current]
            out.append(node)
            current = node.parent
        return out

    def ancestor_at(self, node_id: str, tier: Tier) -> Node | None:
        return next((n for n in self.chain(node_id) if n.tier is tier), None)

    def workers_of(self, grid_id: str) -> list[Person]:
        return list(self._at_node.get((grid_id, Role.WORKER), ()))

    def officers_for(self, grid_id: str, tier: Tier, ticket_type: str = "") -> list[Person]:
        """Who is pinged when a case of this grid reaches `tier`."""
        if tier is Tier.DEPARTMENT:
            return [self.people[pid] for d in self.departments_for(ticket_type) for pid in d.people]
        node = self.ancestor_at(grid_id, tier)
        if node is None:
            return []
        role = Role.WORKER if tier is Tier.GRID else Role.OFFICER
        return list(self._at_node.get((node.id, role), ()))

    def department(self, query: str) -> Department | None:
        """The department an officer names (`#12 派 城管`): its id, its name, or the one name that holds
        the words in order (城管 → 区城市管理局, 住建 → 区住房和城乡建设局); None when none or several do."""
        words = query.strip()
        if not words:
            return None
        exact = [d for d in self.departments if words in (d.id, d.name)]
        if exact:
            return exact[0]
        found = [d for d in self.departments if _in_order(words, d.name)]
        return found[0] if len(found) == 1 else None

    def staff_of(self, department_id: str) -> tuple[str, ...]:
        return next((d.people for d in self.departments if d.id == department_id), ())

    def departments_for(self, ticket_type: str) -> list[Department]:
        specific = [d for d in self.departments if ticket_type in d.types]
        return specific or [d for d in self.departments if not d.types]

    def tier_of(self, person_id: str) -> Tier | None:
        """The tier an officer reports in (报到) for: their node's, or `department` for department staff."""
        person = self.people.get(person_id)
        if person is None or person.role is Role.WORKER:
            return None
        if person.node is not None and person.node in self.nodes:
            return self.nodes[person.node].tier
        if any(person_id in d.people for d in self.departments):
            return Tier.DEPARTMENT
        return Tier.DISTRICT if person.role is Role.ADMIN else None

    def grids_served(self, person_id: str) -> list[str]:
        """The micro-grids this person may act on and see: a worker's own, an officer's jurisdiction, all for admins."""
        grids = [n.id for n in self.nodes.values() if n.tier is Tier.GRID]
        return [g for g in grids if self.serves(person_id, g)]

    def may_act(
        self, person_id: str, grid_id: str, ticket_type: str, tier: Tier, department: str | None = None
    ) -> bool:
        """`serves`, plus department staff on a case that reached the department tier of a type
        their department takes (吹哨报到: the department reports in and acts), or that was dispatched
        (派单) to their department."""
        if self.serves(person_id, grid_id):
            return True
        if department is not None:
            return person_id in self.staff_of(department)
        return tier is Tier.DEPARTMENT and any(person_id in d.people for d in self.departments_for(ticket_type))

    def may_take(self, person_id: str, grid_id: str, ticket_type: str, tier: Tier) -> bool:
        """May a case of this grid be handed to this person (改派)? Only to someone who can then act on it
        (`may_act`: the grid's worker, an officer of a node above it, department staff once the case reached
        the department tier). Never to a platform admin: they run the system, not cases, and a case handed
        to them would wait in no worker's or officer's list."""
        person = self.people.get(person_id)
        if person is None or person.role is Role.ADMIN or grid_id not in self.nodes:
            return False
        return self.may_act(person_id, grid_id, ticket_type, tier)

    def assignable(self, grid_id: str, ticket_type: str, tier: Tier) -> list[Person]:
        """Everyone a case of this grid may be handed to (`may_take`), nearest first: the grid's workers,
        the officers of the grid and of each node above it (bottom-up), then the department staff."""
        if grid_id not in self.nodes:
            return []
        candidates = list(self.workers_of(grid_id))
        for node in self.chain(grid_id):
            candidates += self._at_node.get((node.id, Role.OFFICER), ())
        candidates += [self.people[pid] for d in self.departments_for(ticket_type) for pid in d.people]
        unique = {p.id: p for p in candidates}
        return [p for p in unique.values() if self.may_take(p.id, grid_id, ticket_type, tier)]

    def serves(self, person_id: str, grid_id: str) -> bool:
        """May this person act on cases of this grid (its worker, an officer above it, an admin)?"""
        person = self.people.get(person_id)
        if person is None:
            return False
        if person.role is Role.ADMIN:
            return True
        if person.role is Role.WORKER:
            return person.node == grid_id
        return any(n.id == person.node for n in self.chain(grid_id))


def grid_by_place(directory: Directory, chat_node: Node, at: Point | None, one_to_one: bool) -> Node:
    """Which grid a report belongs to. A micro-grid's group chat keeps its own grid whatever is shared. A
    chat with no grid of its own routes by a shared location to the grid whose boundary contains it: a
    one-to-one line (the WeChat Official Account, bound to a grid by its QR code) to any grid of the
    directory, a township-wide or community-wide group to a grid below its node. No location, or one
    no grid contains: the chat's node stays."""
    if at is None or (chat_node.tier is Tier.GRID and not one_to_one):
        return chat_node
    return directory.grid_at(at, None if one_to_one else chat_node.id) or chat_node


def _in_order(words: str, name: str) -> bool:
    """Every character of `words` appears in `name`, in that order (a Chinese abbreviation)."""
    rest = iter(name)
    return all(ch in rest for ch in words)


def _validate(directory: Directory) -> None:
    for node in directory.nodes.values():
        if node.tier not in NODE_TIERS:
            raise DirectoryError(f"node {node.id}: tier must be one of {[t.value for t in NODE_TIERS]}")
        if node.parent is not None and node.parent not in directory.nodes:
            raise DirectoryError(f"node {node.id}: unknown parent {node.parent}")
        if node.tier is Tier.GRID and not node.chat_id:
            raise DirectoryError(f"micro-grid {node.id} needs a chat_id")
    chats = [n.chat_id for n in directory.nodes.values() if n.chat_id]
    if len(chats) != len(set(chats)):
        raise DirectoryError("a chat_id is used by two micro-grids")
    for person in directory.people.values():
        if person.node is not None and person.node not in directory.nodes:
            raise DirectoryError(f"person {person.id}: unknown node {person.node}")
    for dept in directory.departments:
        for pid in dept.people:
            if pid not in directory.people:
                raise DirectoryError(f"department {dept.id}: unknown person {pid}")
