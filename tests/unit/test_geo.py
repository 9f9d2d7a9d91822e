"""The map's pure geometry (tickets/geo.py) and the directory's boundaries (config/directory.py)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from admin.exports import SheetError, directory_from_xlsx, directory_xlsx
from config.directory import GridFileError, dump_directory, load_directory_file, parse_directory
from tickets import geo
from tickets.directory import grid_by_place

SQUARE_WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
        [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],
    ],
}


def test_a_point_in_a_hole_is_outside_and_each_part_of_a_multipolygon_counts() -> None:
    square = geo.shape(SQUARE_WITH_HOLE)
    assert geo.contains(square, (1, 1)) and geo.contains(square, (9.9, 5))
    assert not geo.contains(square, (5, 5)) and not geo.contains(square, (10.5, 5))
    far = [[[20, 20], [21, 20], [21, 21], [20, 21], [20, 20]]]
    multi = geo.shape({"type": "MultiPolygon", "coordinates": [SQUARE_WITH_HOLE["coordinates"], far]})
    assert geo.contains(multi, (20.5, 20.5)) and not geo.contains(multi, (15, 15))
    assert geo.to_geojson(square) == SQUARE_WITH_HOLE  # round trip


def test_distances_are_metres_on_the_sphere() -> None:
    # one degree of latitude is ~111.2 km anywhere; one of longitude shrinks with cos(latitude)
    assert geo.distance_m((116.0, 39.0), (116.0, 40.0)) == pytest.approx(111_195, rel=1e-3)
    assert geo.distance_m((116.0, 39.0), (116.01, 39.0)) == pytest.approx(864, abs=2)
    near = geo.nearest([("a", (116.0, 39.0)), ("b", (116.03, 39.0)), ("c", (116.01, 39.0))], (116.0, 39.0), 2000)
    assert [n.person_id for n in near] == ["a", "c"]  # b is ~2.6 km away


@pytest.mark.parametrize(
    ("boundary", "says"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "未闭合"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "至少 4 个点"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}, "经度超出范围"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 95], [1, 1], [0, 0]]]}, "纬度超出范围"),
        ({"type": "Point", "coordinates": [0, 0]}, "Polygon 或 MultiPolygon"),
        ("nowhere.geojson", "不能引用文件"),
    ],
)
def test_a_bad_boundary_is_refused_naming_the_node_and_the_problem(boundary: Any, says: str) -> None:
    grid = {"id": "g1", "name": "网格", "chat_id": "g1", "boundary": boundary}
    data = {"district": {"id": "d", "name": "区", "townships": [{"id": "t", "name": "街道", "communities": [
        {"id": "c", "name": "社区", "grids": [grid]}]}]}}  # fmt: skip
    with pytest.raises(GridFileError, match=rf"node g1: .*{says}"):
        parse_directory(data)


def test_the_demo_grid_partitions_its_district_and_finds_the_grid_of_a_point() -> None:
    directory = load_directory_file(Path(__file__).parents[2] / "config" / "grids.demo.yaml")
    grids = [n for n in directory.nodes.values() if n.tier == "grid"]
    assert all(n.boundary for n in directory.nodes.values())
    for grid in grids:  # the centre of each grid's box lies in that grid alone, and in its ancestors
        x0, y0, x1, y1 = geo.bbox(grid.boundary or ())
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        found = directory.grid_at(centre)
        assert found is not None and found.id == grid.id
        assert all(geo.contains(n.boundary or (), centre) for n in directory.chain(grid.id))
    assert directory.grid_at((0.0, 0.0)) is None
    yg1 = directory.nodes["yg-1"]
    where = geo.building_at(yg1.buildings, "三号楼楼道")
    assert where is not None and directory.grid_at(where) == yg1
    again = parse_directory(dump_directory(directory))  # export and import keep the map
    assert again.nodes["yg-1"] == yg1 and again.nodes["shifan"].boundary == directory.nodes["shifan"].boundary


def test_the_excel_directory_carries_the_map_and_refuses_a_bad_boundary_in_chinese() -> None:
    directory = load_directory_file(Path(__file__).parents[2] / "config" / "grids.demo.yaml")
    again = directory_from_xlsx(directory_xlsx(directory))
    assert again.nodes["yg-1"] == directory.nodes["yg-1"] and again.nodes["xingfu"] == directory.nodes["xingfu"]
    book = load_workbook(io.BytesIO(directory_xlsx(directory)))
    sheet = book["网格"]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "yg-1")
    row[5].value = '{"type": "Polygon", "coordinates": [[[113.6, 34.77], [113.62, 34.77], [113.62, 34.8]]]}'
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(SheetError, match=r"地图数据有误.*至少 4 个点"):
        directory_from_xlsx(out.getvalue())


def test_a_shared_location_routes_only_where_the_chat_has_no_grid_of_its_own() -> None:
    directory = load_directory_file(Path(__file__).parents[2] / "config" / "grids.demo.yaml")
    yg1, xingfu, heping = directory.nodes["yg-1"], directory.nodes["xingfu"], directory.nodes["heping"]
    in_xh2, in_hh1 = (113.67, 34.7475), (113.61, 34.75)
    assert grid_by_place(directory, yg1, in_xh2, one_to_one=False) == yg1  # a grid's group keeps its grid
    assert grid_by_place(directory, yg1, in_xh2, one_to_one=True).id == "xh-2"  # a one-to-one line follows it
    assert grid_by_place(directory, yg1, None, one_to_one=True) == yg1
    assert grid_by_place(directory, xingfu, in_hh1, one_to_one=False).id == "hh-1"  # a township-wide group
    assert grid_by_place(directory, heping, in_hh1, one_to_one=False) == heping  # not below that township
    assert grid_by_place(directory, yg1, (90.0, 30.0), one_to_one=True) == yg1  # no grid holds it
