"""The console in a real headless Chromium (Debian's chromium and chromium-driver, driven
by Selenium), opened as Telegram opens it: the signed initData and the theme in the
URL's fragment. A screenshot of each view goes to .artifacts/.

Without Chromium these tests skip, except under CI (CI=true), where a skip would hide
that the console was never seen working: there they fail.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from tests.conftest import GROUP_ID, ROOT, World, init_data
from tests.test_leader_tools_e2e import a_busy_day, leader_summary, without_codes

ARTIFACTS = ROOT / ".artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "button_color": "#5288c1"}

webdriver = pytest.importorskip("selenium.webdriver") if CHROMIUM and DRIVER else None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium, A4-sized enough for a phone-first page."""
    if webdriver is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium and chromium-driver are required under CI")
        pytest.skip("Chromium or chromium-driver not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=480,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def opened_at(world: World, person_data: str) -> str:
    """The console's address as Telegram opens it: initData and theme after the #."""
    theme = quote(json.dumps(THEME))
    return f"{world.console_url}/#tgWebAppData={quote(person_data)}&tgWebAppThemeParams={theme}"


async def until(driver: Any, check: Callable[[Any], Any], seconds: float = 10) -> Any:
    """Wait (letting the bot's event loop run) until `check(driver)` is truthy."""
    for _ in range(int(seconds * 20)):
        found = await asyncio.to_thread(check, driver)
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out; page: {driver.page_source[:2000]}")


async def click(driver: Any, css: str) -> None:
    await asyncio.to_thread(lambda: driver.find_element("css selector", css).click())


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"console-{name}.png"))


def view_text(driver: Any) -> str:
    return str(driver.find_element("id", "view").text)


async def test_a_leader_toggles_a_paid_mark_and_summary_shows_it(
    console: World, browser: Any
) -> None:
    await a_busy_day(console)
    await asyncio.to_thread(browser.get, opened_at(console, init_data(console, console.leader)))
    await until(browser, lambda d: "Mango lovers" in view_text(d))
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)", "Telegram's theme colours are followed"
    shot(browser, "groups")

    await click(browser, f'[data-view="/api/view/group/{GROUP_ID}"]')
    await until(browser, lambda d: "#1 Mangoes" in view_text(d))
    shot(browser, "deals")
    await click(browser, '[data-view="/api/view/deal/1"]')
    await until(browser, lambda d: d.find_elements("css selector", '[data-order="1"]'))
    await click(browser, 'button[data-order="1"][data-mark="paid"]')
    await until(
        browser, lambda d: d.find_elements("css selector", '.on[data-order="1"][data-mark="paid"]')
    )
    shot(browser, "orders")

    assert "#1 Ann × 1 — ¥12.50 · 💰 paid" in without_codes(await leader_summary(console))


async def test_the_pickup_list_prints_to_pdf_with_its_codes(console: World, browser: Any) -> None:
    await a_busy_day(console)
    confirmed = await console.rows("SELECT code FROM orders WHERE status = 'confirmed'")
    codes = [code for (code,) in confirmed]
    await asyncio.to_thread(browser.get, opened_at(console, init_data(console, console.leader)))
    await until(browser, lambda d: "Mango lovers" in view_text(d))
    await click(browser, f'[data-view="/api/view/group/{GROUP_ID}"]')
    await until(browser, lambda d: d.find_elements("css selector", '[data-view*="/pickup/"]'))
    await click(browser, '[data-view*="/pickup/"]')
    await until(browser, lambda d: all(code in view_text(d) for code in codes))
    shot(browser, "pickup")

    printed = await asyncio.to_thread(
        browser.execute_cdp_cmd,
        "Page.printToPDF",
        {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": False},
    )
    pdf = base64.b64decode(printed["data"])
    assert pdf.startswith(b"%PDF-")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "console-pickup.pdf").write_bytes(pdf)
    text = pdf_text(pdf)
    assert all(code in text for code in codes), "every collection code is on the paper"
    assert "Print" not in text, "the print stylesheet leaves the buttons off"


async def test_the_chart_and_a_members_orders(console: World, browser: Any) -> None:
    people = await a_busy_day(console)
    await asyncio.to_thread(browser.get, opened_at(console, init_data(console, console.leader)))
    await until(browser, lambda d: "Mango lovers" in view_text(d))
    await click(browser, f'[data-view="/api/view/group/{GROUP_ID}"]')
    await until(browser, lambda d: d.find_elements("css selector", '[data-view*="/chart/"]'))
    await click(browser, '[data-view*="/chart/"]')
    bars = await until(browser, lambda d: d.find_elements("css selector", "svg rect.bar"))
    assert len(bars) == 90
    tall = [bar for bar in bars if float(bar.get_attribute("height")) > 0]
    assert len(tall) == 3, "today's bar in each of the three charts"
    shot(browser, "chart")

    ann = people["Ann"]
    await asyncio.to_thread(browser.get, opened_at(console, init_data(console, ann)))
    await until(browser, lambda d: "My orders" in view_text(d))
    assert "Bo" not in view_text(browser)
    shot(browser, "member")


def pdf_text(pdf: bytes) -> str:
    """The words on a PDF's pages, as a reader would copy them."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
