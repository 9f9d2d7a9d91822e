"""The monthly bulletin as a real PDF: generated for a seeded month on the in-process bot, read back
with a PDF text extractor (the Chinese title, the figures, the grid and unit names, the tier names),
the font embedded as a subset, the charts drawn; the routes' auth, 404 and a missing font (503)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from bot.bulletin_pdf import DEFAULT_FONT
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot

pytestmark = pytest.mark.skipif(not DEFAULT_FONT.is_file(), reason="fonts-wqy-zenhei not installed (make setup)")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcessBot, dict[str, Any]]]:
    """December 2026 with two reports in 阳光社区第1微网格, one fixed; the bulletins generated."""
    bot = InProcessBot(tmp_path_factory.mktemp("pdf"), GRIDBOT_ADMIN_USER=ADMIN_USER,
                       GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    try:
        first = bot.say("yg-1", "张阿姨", "3号楼门口的路灯坏了，晚上很黑")["replies"][0]["ticket_id"]
        bot.say("yg-1", "刘大爷", "5号楼楼道里堆满了垃圾没人清理")
        bot.say("yg-1", "w-yg-1", f"#{first} 接单")
        bot.say("yg-1", "w-yg-1", f"#{first} 已处理")
        ids = bot.http.post("/bulletins", json={"month": "2026-12"}).json()["ids"]
        bulletins = [bot.http.get(f"/bulletins/{i}").json() for i in ids]
        district = next(b for b in bulletins if b["body"]["scope"]["tier"] == "district")
        yield bot, district
    finally:
        bot.close()


def pdf_of(response: Any) -> PdfReader:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(response.content))


def text_of(reader: PdfReader) -> str:
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def test_the_pdf_reads_back_its_title_figures_and_names(seeded: tuple[InProcessBot, dict[str, Any]]) -> None:
    bot, bulletin = seeded
    response = bot.http.get(f"/bulletins/{bulletin['id']}/pdf")
    assert f"bulletin-2026-12-{bulletin['body']['scope']['id']}.pdf" in response.headers["content-disposition"]
    text = text_of(pdf_of(response))
    body = bulletin["body"]
    assert "示范区2026-12网格化管理月度通报" in text
    assert body["created"] == 2
    assert f"受理办结撤销在办挂账办结率按时办结率{body['created']}{body['closed']}" in text
    for name in ("阳光社区第1微网格（1-4号楼）", "幸福街道", "阳光社区", "职能部门", "区指挥中心", "报平安率"):
        assert name in text, name


def test_the_font_is_embedded_as_a_subset_and_the_charts_are_drawn(
    seeded: tuple[InProcessBot, dict[str, Any]],
) -> None:
    bot, bulletin = seeded
    reader = pdf_of(bot.http.get(f"/bulletins/{bulletin['id']}/pdf"))
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    embedded = [f for f in fonts if "/FontFile2" in _descriptor(f)]
    assert embedded, fonts
    assert all(re.match(r"^/[A-Z]{6}\+", str(f["/BaseFont"])) for f in embedded)  # a subset's tag
    size = sum(len(_descriptor(f)["/FontFile2"].get_object().get_data()) for f in embedded)
    assert size < 2_000_000, size  # a subset, not the 17 MB collection
    content = b"".join(page.get_contents().get_data() for page in reader.pages)  # type: ignore[union-attr]
    assert content.count(b" re") >= 3  # chart bars and legend swatches are filled rectangles
    assert b".329412 .439216 .776471 rg" in content  # the 受理 bars' fill colour (#5470c6)


def _descriptor(font: Any) -> Any:
    if "/FontDescriptor" in font:
        return font["/FontDescriptor"].get_object()
    descendants = font.get("/DescendantFonts")
    return descendants[0].get_object()["/FontDescriptor"].get_object() if descendants else {}


def test_the_admin_page_offers_the_pdf_and_serves_it(seeded: tuple[InProcessBot, dict[str, Any]]) -> None:
    bot, bulletin = seeded
    admin = AdminWeb("http://bot")
    admin.http = bot.client(headers={"Accept": "text/html"})
    assert admin.login().status_code == 303
    page = admin.http.get(f"/admin/bulletins/{bulletin['id']}").text
    assert f'href="/admin/bulletins/{bulletin["id"]}/pdf"' in page
    assert "示范区2026-12" in text_of(pdf_of(admin.http.get(f"/admin/bulletins/{bulletin['id']}/pdf")))
    assert bot.client().get(f"/admin/bulletins/{bulletin['id']}/pdf").status_code == 303  # to the login


def test_the_api_route_needs_the_token_and_knows_its_bulletins(seeded: tuple[InProcessBot, dict[str, Any]]) -> None:
    bot, bulletin = seeded
    anonymous = bot.client(base_url="http://bot/api/v1")
    assert anonymous.get(f"/bulletins/{bulletin['id']}/pdf").status_code == 401
    missing = bot.http.get("/bulletins/999999/pdf")
    assert missing.status_code == 404 and " / " in missing.json()["error"]
    assert bot.http.get("/bulletins/x/pdf").status_code == 422


def test_a_missing_font_is_a_clear_503_not_a_500(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_PDF_FONT=str(tmp_path / "no-such-font.ttc"))
    try:
        bulletin = bot.http.post("/bulletins", json={"month": "2026-11"}).json()["ids"][0]
        response = bot.http.get(f"/bulletins/{bulletin}/pdf")
        assert response.status_code == 503
        error = response.json()["error"]
        assert "no-such-font.ttc" in error and "fonts-wqy-zenhei" in error and "make setup" in error
    finally:
        bot.close()
