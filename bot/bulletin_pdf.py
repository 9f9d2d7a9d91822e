"""The monthly bulletin (月度通报) as a PDF officials file and forward: ReportLab, the Chinese font
embedded as a subset (ReportLab subsets every TrueType font it embeds), the figures, the per-grid and
check-in tables and two charts drawn as vector graphics (ReportLab's graphics module).

The font is a file on the machine (Debian's fonts-wqy-zenhei by default, `make setup` installs it);
when it is missing, `FontMissing` says so and the routes answer 503 with that message, never a 500.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from escalation.bulletin import pct
from tickets.ports import Bulletin

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # Debian: fonts-wqy-zenhei
FONT_NAME = "GridbotCJK"
Names = Callable[[str, str], str]
_lock = threading.Lock()
_registered: dict[Path, str] = {}


class FontMissing(RuntimeError):
    """The Chinese font the PDF needs is not on this machine (the message says which and how to fix)."""


def font(path: Path) -> str:
    """Register the font once per process (parsing a CJK font takes a while); its ReportLab name."""
    with _lock:
        if path in _registered:
            return _registered[path]
        if not path.is_file():
            raise FontMissing(f"PDF 需要中文字体 {path}，本机没有：请运行 make setup（安装 fonts-wqy-zenhei）或设置 "
                              f"GRIDBOT_PDF_FONT / the Chinese font {path} is missing: run make setup "
                              f"(installs fonts-wqy-zenhei) or set GRIDBOT_PDF_FONT")  # fmt: skip
        name = f"{FONT_NAME}{len(_registered)}"
        try:
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            raise FontMissing(f"字体 {path} 无法使用 / the font {path} cannot be used: {exc}") from exc
        _registered[path] = name
        return name


def filename(b: Bulletin) -> str:
    return f"bulletin-{b.period}-{b.scope}.pdf"


def render_pdf(b: Bulletin, names: Names, font_path: Path = DEFAULT_FONT) -> bytes:
    """The bulletin `b` (its stored body) as PDF bytes. CPU-bound: call it in a thread."""
    face = font(font_path)
    body: Mapping[str, Any] = b.body
    styles = _styles(face)
    title = f"{body['scope']['name']} {b.period} 网格化管理月度通报"
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=title, author="gridbot", leftMargin=18 * mm,
                            rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm)  # fmt: skip
    story: list[Flowable] = [Paragraph(title, styles["title"]),
                             Paragraph(f"生成于 {b.created_at.strftime('%Y-%m-%d %H:%M')} UTC", styles["muted"]),
                             Spacer(1, 4 * mm)]  # fmt: skip
    story += _summary(body, names, styles, face)
    story += [Paragraph("各网格", styles["h2"]), _grid_table(body, face), Spacer(1, 3 * mm), _grid_chart(body, face)]
    story += [Paragraph("超时上报（按层级）", styles["h2"]), _tier_chart(body, names, face)]
    story += _activity(body, styles, face)
    doc.build(story)
    return out.getvalue()


def _styles(face: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=face, fontSize=10.5, leading=16, wordWrap="CJK")
    return {"body": base,
            "title": ParagraphStyle("title", parent=base, fontSize=17, leading=24, alignment=1, spaceAfter=2),
            "h2": ParagraphStyle("h2", parent=base, fontSize=13, leading=20, spaceBefore=8, spaceAfter=4),
            "muted": ParagraphStyle("muted", parent=base, fontSize=9, textColor=colors.grey, alignment=1)}  # fmt: skip


def _summary(body: Mapping[str, Any], names: Names, styles: dict[str, ParagraphStyle], face: str) -> list[Flowable]:
    sat = body["satisfaction"]
    head = ["受理", "办结", "撤销", "在办", "挂账", "办结率", "按时办结率"]
    row = [body["created"], body["closed"], body["cancelled"], body["open"], body["suspended"],
           pct(body["completion_rate"]), pct(body["on_time_rate"])]  # fmt: skip
    overdue = "，".join(f"{names('tier', t)} {n} 次" for t, n in body["overdue_by_tier"].items())
    types = "，".join(f"{names('type', t)} {n} 件" for t, n in body["top_types"]) or "无"
    mean = sat["mean"] if sat["mean"] is not None else "—"
    return [
        _table([head, [str(x) for x in row]], face),
        Spacer(1, 3 * mm),
        Paragraph(
            f"群众评价 {sat['ratings']} 次，平均 {mean} 分，满意率 {pct(sat['satisfied_rate'])}；"
            f"默认满意 {sat['default_satisfied']} 件（未评价，单列）。",
            styles["body"],
        ),
        Paragraph(f"超时上报：{overdue}；吹哨 {body['whistles']} 次。", styles["body"]),
        Paragraph(f"事项类型前五：{types}", styles["body"]),
    ]


def _grid_table(body: Mapping[str, Any], face: str) -> Table:
    rows = [["网格", "受理", "办结", "办结率", "超时", "平均评分"]]
    for g in body["grids"]:
        mean = g["mean_rating"] if g["mean_rating"] is not None else "—"
        rows.append([g["name"], str(g["created"]), str(g["closed"]), pct(g["completion_rate"]), str(g["overdue"]),
                     str(mean)])  # fmt: skip
    return _table(rows, face)


def _activity(body: Mapping[str, Any], styles: dict[str, ParagraphStyle], face: str) -> list[Flowable]:
    act = body["worker_activity"]
    rows = [["单位", "网格员", "报平安", "比率"]]
    rows += [[a["name"], str(a["workers"]), str(a["checkins"]), pct(a["rate"])] for a in act["by_node"]]
    return [Paragraph("网格员报平安", styles["h2"]),
            Paragraph(f"报平安率 {pct(act['rate'])}（{act['workers']} 名网格员，{act['workdays']} 个工作日）",
                      styles["body"]),
            _table(rows, face)]  # fmt: skip


def _table(rows: list[list[str]], face: str) -> Table:
    table = Table(rows, repeatRows=1, hAlign="LEFT")
    style = [("FONTNAME", (0, 0), (-1, -1), face), ("FONTSIZE", (0, 0), (-1, -1), 9.5),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")),
             ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
             ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]  # fmt: skip
    table.setStyle(TableStyle(style))
    return table


def _grid_chart(body: Mapping[str, Any], face: str) -> Drawing:
    """受理 and 办结 per grid, as bars."""
    grids = body["grids"] or [{"name": "—", "created": 0, "closed": 0}]
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 12 * mm, 14 * mm, 125 * mm, 44 * mm
    chart.data = [[g["created"] for g in grids], [g["closed"] for g in grids]]
    chart.categoryAxis.categoryNames = [str(g["name"])[:8] for g in grids]
    chart.categoryAxis.labels.fontName = face
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 20
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = face
    chart.bars[0].fillColor = colors.HexColor("#5470c6")
    chart.bars[1].fillColor = colors.HexColor("#91cc75")
    legend = Legend()
    legend.x, legend.y, legend.fontName = 142 * mm, 50 * mm, face
    legend.colorNamePairs = [(colors.HexColor("#5470c6"), "受理"), (colors.HexColor("#91cc75"), "办结")]
    drawing.add(chart)
    drawing.add(legend)
    return drawing


def _tier_chart(body: Mapping[str, Any], names: Names, face: str) -> Drawing:
    """Overdue escalations that reached each tier, as horizontal bars."""
    tiers = list(body["overdue_by_tier"].items())
    drawing = Drawing(170 * mm, 40 * mm)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 28 * mm, 4 * mm, 120 * mm, 32 * mm
    chart.data = [[n for _, n in tiers] or [0]]
    chart.categoryAxis.categoryNames = [names("tier", t) for t, _ in tiers] or ["—"]
    chart.categoryAxis.labels.fontName = face
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = face
    chart.bars[0].fillColor = colors.HexColor("#ee6666")
    drawing.add(chart)
    if not any(n for _, n in tiers):
        drawing.add(String(90 * mm, 20 * mm, "本月无超时上报", fontName=face, fontSize=9))
    return drawing
