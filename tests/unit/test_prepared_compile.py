"""What `storage.prepared` makes of a SQLAlchemy statement for asyncpg (no database needed)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select

from storage.prepared import compile_for_asyncpg

t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("state", String),
          Column("n", Integer, default=0), Column("at", Integer, default=lambda: 1))  # fmt: skip


def test_an_expanding_in_becomes_any_of_an_array_and_placeholders_are_renumbered() -> None:
    query = select(t.c.id).where(t.c.state.in_(bindparam("b_states", expanding=True)), t.c.id > bindparam("b_id"))
    compiled = compile_for_asyncpg(query.limit(5), ("b_states", "b_id"))
    assert "t.state = ANY($1) AND t.id > $2::INTEGER" in compiled.sql
    assert "LIMIT $3" in compiled.sql
    assert compiled.args({"b_states": ["a", "b"], "b_id": 3}) == [["a", "b"], 3, 5]
    assert compiled.keys == ("id",)


def test_a_not_in_over_a_list_is_refused_rather_than_rewritten_wrong() -> None:
    query = select(t.c.id).where(t.c.state.not_in(bindparam("b_states", expanding=True)))
    with pytest.raises(ValueError, match="cannot run on asyncpg"):
        compile_for_asyncpg(query, ("b_states",))


def test_scalar_column_defaults_are_bound_and_computed_ones_refused() -> None:
    compiled = compile_for_asyncpg(t.insert(), ("id", "state", "at"))
    assert compiled.args({"id": 1, "state": "x", "at": 9}) == [1, "x", 0, 9]  # n's default 0
    with pytest.raises(ValueError, match="computed default"):
        compile_for_asyncpg(t.insert(), ("id", "state", "n"))


def test_a_parameter_used_twice_is_refused_rather_than_misnumbered() -> None:
    query = select(t.c.id).where(t.c.n > bindparam("b_x"), t.c.id < bindparam("b_x"))
    with pytest.raises(ValueError, match="appears twice"):
        compile_for_asyncpg(query, ("b_x",))
