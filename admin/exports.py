"""Spreadsheets: tickets as CSV and XLSX, the grid directory as XLSX (both ways).

A resident's text may start with `=`, `+`, `-` or `@`; spreadsheet programs would run it as a
formula (CSV injection), so such cells are written with a leading apostrophe, and XLSX cells are
always typed as text.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils.exceptions import InvalidFileException

from escalation.calendar import LOCAL
from tickets import geo
from tickets.directory import Department, Directory, DirectoryError, Node, Person, Role
from tickets.model import Ticket, Tier

TICKET_COLUMNS = ["工单号", "类型", "状态", "当前层级", "网格", "位置", "内容", "报事人", "网格员",
                  "报事时间", "评分", "办结方式", "紧急", "类别代码", "小类", "承办部门", "退单次数", "返工次数",
                  "办理期限"]  # fmt: skip
KPI_COLUMNS = ["分组", "名称", "排名", "应结案", "缓办", "结案", "按期结案", "按期结案率", "结案率", "返工率", "推诿",
               "响应率", "解决率", "满意率", "黄牌", "红牌"]  # fmt: skip
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_CHUNK = 256 * 1024
# What an uploaded workbook may hold. A .xlsx is a zip: a few hundred KB can unpack into gigabytes
# (one 200 MB shared string compresses to 200 KB), so the archive's own table of sizes is checked
# before any part is opened. zipfile never inflates a member past the size that table declares.
MAX_IMPORT_ROWS = 200_000  # per sheet
MAX_CELL = 2_000  # characters in one cell (ids, names, a department's list of people or types)
MAX_MAP_CELL = 32_767  # a boundary's GeoJSON (the 网格 sheet's 6th and 7th columns): Excel's own cell limit
MAX_PARTS = 500  # files in the archive (a workbook has about a dozen)
MAX_UNPACKED = 100 * 1024 * 1024  # bytes, every part inflated
MAX_SHARED_STRINGS = 32 * 1024 * 1024  # bytes of xl/sharedStrings.xml, which openpyxl holds whole in memory


class SheetError(ValueError):
    """The uploaded spreadsheet cannot be read; the message says where (sheet, row)."""


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def ticket_rows(tickets: Sequence[Ticket], name: Callable[[str, str], str],
                person: Callable[[str], str], grid: Callable[[str], str],
                code: Callable[[Ticket], str] = lambda t: "",
                department: Callable[[str], str] = lambda d: d) -> list[list[object]]:  # fmt: skip
    return [
        [t.id, name("type", t.type), name("state", t.state.value), name("tier", t.tier.value), grid(t.grid),
         t.location, t.text, person(t.reporter), person(t.assignee) if t.assignee else "",
         _when(t.created_at), t.rating if t.rating is not None else "",
         name("close_reason", t.close_reason.value) if t.close_reason else "", "是" if t.urgent else "",
         code(t), t.subtype.name if t.subtype else "", department(t.department) if t.department else "",
         t.returns, t.reworks, _due(t)]
        for t in tickets
    ]  # fmt: skip


def _due(t: Ticket) -> str:
    """A fixed handling deadline: an approved 延期's, else the city platform's (12345)."""
    fixed = t.clock.until or t.deadline
    return _when(fixed) if fixed else ""


def _when(at: datetime) -> str:
    return at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def kpi_rows(body: dict[str, Any], name: Callable[[str, str], str]) -> list[list[object]]:
    """The assessment figures (escalation/kpis.py) as rows: the total, each department (with its rank),
    tier and grid."""
    ranks = {r["id"]: r["rank"] for r in body["ranking"]}
    groups = [("合计", [{"id": "", "name": "全部", **body["total"]}])]
    groups += [("职能部门", body["departments"]), ("层级", body["tiers"]), ("网格", body["grids"])]
    rows: list[list[object]] = []
    for label, items in groups:
        for r in items:
            c = r["counts"]
            shown = name("tier", r["id"]) if label == "层级" else r["name"]
            rows.append([label, shown, ranks.get(r["id"], "") if label == "职能部门" else "", c["due"], c["deferred"],
                         c["closed"], c["closed_on_time"], *(_pct(r[k]) for k in _RATES[:3]), r["returns"],
                         *(_pct(r[k]) for k in _RATES[3:]), c["yellow_cards"], c["red_cards"]])  # fmt: skip
    return rows


_RATES = ("on_time_rate", "closure_rate", "rework_rate", "response_rate", "resolution_rate", "satisfaction_rate")


def _pct(value: object) -> str:
    return f"{float(value) * 100:.1f}%" if isinstance(value, int | float) else ""


def table_file(fmt: str, sheet: str, header: list[str], rows: list[list[object]]) -> tuple[bytes, str]:
    """One table as a download: (`csv` or `xlsx` bytes, its media type)."""
    if fmt == "csv":
        return to_csv(header, rows), "text/csv; charset=utf-8"
    return to_xlsx({sheet: (header, rows)}), XLSX_TYPE


def table_stream(
    fmt: str, sheet: str, header: list[str], pages: AsyncIterator[list[list[object]]]
) -> tuple[AsyncIterator[bytes], str]:
    """A table of any size as a streamed download: CSV page by page; XLSX through openpyxl's write-only
    workbook (rows go to a temporary file as they come), then that file in chunks."""
    if fmt == "csv":
        return _csv_stream(header, pages), "text/csv; charset=utf-8"
    return _xlsx_stream(sheet, header, pages), XLSX_TYPE


async def _csv_stream(header: list[str], pages: AsyncIterator[list[list[object]]]) -> AsyncIterator[bytes]:
    yield to_csv(header, [])
    async for rows in pages:
        out = io.StringIO()
        csv.writer(out).writerows([[safe_cell(v) for v in row] for row in rows])
        yield out.getvalue().encode("utf-8")


async def _xlsx_stream(sheet: str, header: list[str], pages: AsyncIterator[list[list[object]]]) -> AsyncIterator[bytes]:
    book = Workbook(write_only=True)
    table = book.create_sheet(sheet)
    table.append(header)
    async for rows in pages:
        for row in rows:
            table.append([_text_cell(table, safe_cell(v)) for v in row])
    with tempfile.TemporaryFile() as out:
        await asyncio.to_thread(book.save, out)
        out.seek(0)
        while chunk := out.read(XLSX_CHUNK):
            yield chunk


def _text_cell(table: Any, value: object) -> object:
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(table, value=value)
    cell.data_type = "s"  # text, never a formula
    return cell


def to_csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[safe_cell(v) for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(sheets: dict[str, tuple[list[str], list[list[object]]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, (header, rows) in sheets.items():
        sheet = book.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


NODE_SHEET, PEOPLE_SHEET, DEPT_SHEET = "网格", "人员", "部门"
NODE_HEADER = [
    "编号",
    "名称",
    "层级",
    "上级编号",
    "群聊编号",
    "边界（GeoJSON）",
    "楼栋坐标（JSON：{楼栋: [经度, 纬度]}）",
]
PEOPLE_HEADER = ["编号", "姓名", "角色", "所属网格编号"]
DEPT_HEADER = ["编号", "名称", "人员编号（逗号分隔）", "事项类型（逗号分隔，空=全部）"]


def directory_xlsx(d: Directory) -> bytes:
    nodes: list[list[object]] = [
        [n.id, n.name, n.tier.value, n.parent or "", n.chat_id or "", *_map_cells(n)] for n in d.nodes.values()
    ]
    people: list[list[object]] = [[p.id, p.name, p.role.value, p.node or ""] for p in d.people.values()]
    depts: list[list[object]] = [[x.id, x.name, ",".join(x.people), ",".join(x.types)] for x in d.departments]
    return to_xlsx({NODE_SHEET: (NODE_HEADER, nodes), PEOPLE_SHEET: (PEOPLE_HEADER, people),
                    DEPT_SHEET: (DEPT_HEADER, depts)})  # fmt: skip


def directory_from_xlsx(data: bytes) -> Directory:
    """The directory in a workbook laid out as `directory_xlsx` writes it; SheetError names the problem.
    CPU-bound (seconds for a large file): the web runs it in a thread (`asyncio.to_thread`)."""
    _check_archive(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise SheetError(f"不是有效的 Excel（.xlsx）文件：{exc}") from exc
    try:
        nodes = [_node(i, r) for i, r in _rows(book, NODE_SHEET, 7)]
        people = [Person(r[0], r[1], _role(r[2], i), r[3] or None) for i, r in _rows(book, PEOPLE_SHEET, 4)]
        depts = [Department(r[0], r[1], _split(r[2]), _split(r[3])) for _, r in _rows(book, DEPT_SHEET, 4, True)]
        return Directory(nodes, people, depts)
    except DirectoryError as exc:
        raise SheetError(f"名录校验失败：{exc}") from exc


def _map_cells(n: Node) -> list[object]:
    boundary = json.dumps(geo.to_geojson(n.boundary), ensure_ascii=False) if n.boundary else ""
    buildings = json.dumps({k: list(v) for k, v in n.buildings}, ensure_ascii=False) if n.buildings else ""
    return [boundary, buildings]


def _node(number: int, r: list[str]) -> Node:
    """A row of the 网格 sheet; its map columns (边界, 楼栋坐标) are JSON, checked by `tickets.geo`."""
    try:
        boundary = geo.shape(json.loads(r[5]), "边界") if r[5] else None
        raw = json.loads(r[6]) if r[6] else {}
        if not isinstance(raw, dict):
            raise geo.GeoError("楼栋坐标应为 {楼栋: [经度, 纬度]}")
        buildings = tuple((str(k), geo.point(v, f"楼栋 {k}")) for k, v in raw.items())
    except ValueError as exc:  # json.JSONDecodeError and geo.GeoError are ValueErrors
        raise SheetError(f"工作表“{NODE_SHEET}”第 {number} 行：地图数据有误：{exc}") from exc
    return Node(r[0], r[1], _tier(r[2], number), r[3] or None, r[4] or None, boundary, buildings)


def _check_archive(data: bytes) -> None:
    """Refuse a workbook whose parts would unpack past the limits, before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError(f"不是有效的 Excel（.xlsx）文件：{exc}") from exc
    if len(parts) > MAX_PARTS:
        raise SheetError(f"文件内部包含 {len(parts)} 个部件，超过上限 {MAX_PARTS}，不像是名录表格")
    if sum(p.file_size for p in parts) > MAX_UNPACKED:
        raise SheetError(f"文件解压后超过 {MAX_UNPACKED // 2**20} MB，请拆分或删去无关内容后再导入")
    strings = sum(p.file_size for p in parts if p.filename.lower().endswith("sharedstrings.xml"))
    if strings > MAX_SHARED_STRINGS:
        raise SheetError(f"文件中的文字内容解压后超过 {MAX_SHARED_STRINGS // 2**20} MB，请删去无关内容后再导入")


def _rows(book: Any, title: str, width: int, optional: bool = False) -> list[tuple[int, list[str]]]:
    """The data rows of a sheet, only its first `width` columns: a sheet's declared dimension (which
    may claim 16,384 columns) never widens what is read."""
    if title not in book.sheetnames:
        if optional:
            return []
        raise SheetError(f"缺少工作表“{title}”")
    out = []
    rows = book[title].iter_rows(min_row=2, max_col=width, max_row=MAX_IMPORT_ROWS + 1, values_only=True)
    for number, row in enumerate(rows, start=2):
        if number > MAX_IMPORT_ROWS:
            raise SheetError(f"工作表“{title}”超过 {MAX_IMPORT_ROWS} 行")
        cells = ["" if v is None else str(v).strip() for v in (list(row) + [None] * width)[:width]]
        if any(len(c) > (MAX_CELL if j < 5 else MAX_MAP_CELL) for j, c in enumerate(cells)):
            raise SheetError(f"工作表“{title}”第 {number} 行：单元格超过 {MAX_CELL} 个字符")
        if not any(cells):
            continue
        if not cells[0] or not cells[1]:
            raise SheetError(f"工作表“{title}”第 {number} 行：编号和名称不能为空")
        out.append((number, cells))
    return out


def _tier(value: str, row: int) -> Tier:
    try:
        return Tier(value)
    except ValueError as exc:
        raise SheetError(f"网格第 {row} 行：层级“{value}”应为 district/township/community/grid") from exc


def _role(value: str, row: int) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise SheetError(f"人员第 {row} 行：角色“{value}”应为 worker/officer/admin") from exc


def _split(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.replace("，", ",").split(",") if x.strip())
