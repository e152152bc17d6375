"""The leader's console over HTTP, against the real bot: who may see and do what, every
view and write, and that a write is the same mark /summary then shows."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.webapp.auth import INIT_DATA_HEADER
from tests.conftest import (
    GROUP_ID,
    TOKEN,
    Person,
    World,
    console_settings,
    free_port,
    init_data,
    running_world,
)
from tests.fakeapi import FakeBotAPI
from tests.test_leader_tools_e2e import a_busy_day, leader_summary, without_codes


async def ask(
    world: World,
    path: str,
    person: Person | None = None,
    body: dict[str, Any] | None = None,
    header: str | None = None,
) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    """GET (or POST `body` as JSON) on the console as `person`; (status, text, headers)."""
    headers = {}
    if header is not None:
        headers[INIT_DATA_HEADER] = header
    elif person is not None:
        headers[INIT_DATA_HEADER] = init_data(world, person)
    async with aiohttp.ClientSession() as session:
        method = "POST" if body is not None else "GET"
        async with session.request(
            method, world.console_url + path, json=body, headers=headers
        ) as response:
            return response.status, await response.text(), response.headers


def visible(fragment: str) -> str:
    """A fragment's words, tags dropped and spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


async def test_the_shell_page_and_its_files_need_nothing_from_elsewhere(console: World) -> None:
    status, page, headers = await ask(console, "/")
    assert status == 200 and 'src="static/console.js"' in page
    assert "default-src 'self'" in str(headers["Content-Security-Policy"])
    assert "http" not in page.replace("http-equiv", ""), "no outside address in the shell"
    status, script, _ = await ask(console, "/static/console.js")
    assert status == 200 and INIT_DATA_HEADER in script and "tgWebAppData" in script
    assert TOKEN.partition(":")[2] not in page + script


async def test_the_menu_button_opens_the_console(console: World) -> None:
    button = console.api.menu_buttons[None]
    assert button["type"] == "web_app" and button["web_app"]["url"] == "https://console.example/"


@pytest.mark.parametrize("case", ["missing", "forged", "altered", "expired", "no user"])
async def test_an_unsigned_altered_or_old_init_data_is_refused(console: World, case: str) -> None:
    leader = console.leader
    header = {
        "missing": None,
        "forged": init_data(console, leader, token="654321:ANOTHER-BOTS-TOKEN"),
        "altered": init_data(console, leader).replace(f"%22id%22%3A+{leader.id}", "%22id%22%3A+1"),
        "expired": init_data(console, leader, age=3601),
        "no user": "auth_date=1&hash=00",
    }[case]
    if case == "altered":
        assert str(leader.id) not in header
    status, text, _ = await ask(console, "/api/view/home", header=header or "")
    assert status == 401 and "open it again from the bot's menu" in text, text
    status, _, _ = await ask(console, "/api/view/home", header=init_data(console, leader, age=3500))
    assert status == 200, "within the hour it is good"


async def test_a_leader_goes_from_groups_to_deals_to_rounds_to_orders(console: World) -> None:
    await a_busy_day(console)
    leader = console.leader

    status, home, _ = await ask(console, "/api/view/home", leader)
    assert status == 200 and "Mango lovers" in home
    assert f'data-view="/api/view/group/{GROUP_ID}"' in home
    _, group, _ = await ask(console, f"/api/view/group/{GROUP_ID}", leader)
    assert "#1 Mangoes" in visible(group) and "#2 Lychee" in visible(group)
    _, deal, _ = await ask(console, "/api/view/deal/1", leader)
    words = visible(deal)
    assert words.index("Round 3") < words.index("Round 2") < words.index("Round 1")
    assert deal.count('data-mark="paid"') == 4, "a toggle per confirmed order"
    assert "Eve" in words and "cancelled" in words, "a failed round's order, without toggles"


async def test_a_paid_toggle_is_the_mark_summary_shows(console: World) -> None:
    await a_busy_day(console)
    leader = console.leader

    status, deal, _ = await ask(
        console, "/api/mark", leader, {"order_id": 1, "mark": "paid", "value": True}
    )
    assert status == 200
    assert re.search(r'class="toggle on" data-order="1" data-mark="paid"', deal)

    text = without_codes(await leader_summary(console))
    assert "#1 Ann × 1 — ¥12.50 · 💰 paid" in text
    history = await console.rows("SELECT order_id, mark, value, by_user FROM order_marks")
    assert history == [(1, "paid", 1, leader.id)], "the same append-only history as /paid"

    await ask(console, "/api/mark", leader, {"order_id": 1, "mark": "paid", "value": False})
    assert "Paid: ¥0.00" in await leader_summary(console)


async def test_another_groups_leader_sees_and_changes_nothing_here(console: World) -> None:
    await a_busy_day(console)
    other = Person(console, console.api.user(1500, "Olga", username="olga", language_code="en"))
    console.api.group(-1009999, "Other group", creator=other.user, admins=[])

    for path in (
        f"/api/view/group/{GROUP_ID}",
        "/api/view/deal/1",
        f"/api/view/pickup/{GROUP_ID}",
        f"/api/view/chart/{GROUP_ID}",
        f"/api/csv/day/{GROUP_ID}",
        "/api/csv/deal/1",
    ):
        status, text, _ = await ask(console, path, other)
        assert status == 404, path
        assert "Ann" not in text and "Mango" not in text
    for path, body in (
        ("/api/mark", {"order_id": 1, "mark": "paid", "value": True}),
        ("/api/remind", {"chat_id": GROUP_ID}),
        ("/api/repost", {"deal_id": 1}),
        ("/api/collect", {"chat_id": GROUP_ID, "code": "ABCDE"}),
    ):
        status, _, _ = await ask(console, path, other, body)
        assert status == 403, path
    assert await console.rows("SELECT * FROM order_marks") == []
    _, unpaid, _ = await ask(console, "/api/view/unpaid", other)
    assert "Ann" not in unpaid


async def test_a_member_sees_only_their_own_orders(console: World) -> None:
    people = await a_busy_day(console)
    cy = people["Cy"]

    status, home, _ = await ask(console, "/api/view/home", cy)
    words = visible(home)
    assert status == 200 and "My orders" in words and "My groups" not in words
    assert "#3 Mangoes" in words and "Bo" not in words and "Ann" not in words
    code = (await console.rows("SELECT code FROM orders WHERE user_id = ? LIMIT 1", cy.id))[0][0]
    assert code in words
    _, orders, _ = await ask(console, "/api/view/orders", cy)
    assert visible(orders) == words
    status, _, _ = await ask(console, f"/api/view/group/{GROUP_ID}", cy)
    assert status == 404
    status, _, _ = await ask(
        console, "/api/mark", cy, {"order_id": 3, "mark": "paid", "value": True}
    )
    assert status == 403


async def test_a_leader_who_stopped_leading_may_not_write(console: World) -> None:
    await a_busy_day(console)
    deputy = console.member("Dan")
    console.api.chat_admins[GROUP_ID].add(deputy.id)
    status, deal, _ = await ask(console, "/api/view/deal/1", deputy)
    assert status == 200 and 'data-mark="paid"' in deal

    console.api.chat_admins[GROUP_ID].discard(deputy.id)
    body = {"order_id": 1, "mark": "paid", "value": True}
    status, text, _ = await ask(console, "/api/mark", deputy, body)
    assert status == 403 and "Only the group's leaders" in text
    assert await console.rows("SELECT * FROM order_marks") == []


async def test_unpaid_across_my_groups_and_remind_once_a_day(console: World) -> None:
    await a_busy_day(console)
    leader = console.leader

    _, unpaid, _ = await ask(console, "/api/view/unpaid", leader)
    words = visible(unpaid)
    assert "Mango lovers" in words and "Ann" in words and "Fay" in words
    _, reminded, _ = await ask(console, "/api/remind", leader, {"chat_id": GROUP_ID})
    assert "Reminded 5 members." in visible(reminded)
    _, again, _ = await ask(console, "/api/remind", leader, {"chat_id": GROUP_ID})
    assert "Reminded 0 members; 5 not (reminded today already" in visible(again)


async def test_post_again_reposts_a_past_deal_in_its_group(console: World) -> None:
    await a_busy_day(console)
    cards = len(console.api.bot_messages(GROUP_ID))

    status, group, _ = await ask(console, "/api/repost", console.leader, {"deal_id": 1})
    assert status == 200 and "Posted again as deal #3." in visible(group)
    assert "#3 Mangoes" in visible(group)
    await console.settle()
    assert len(console.api.bot_messages(GROUP_ID)) > cards
    assert "Mangoes" in console.group_texts()[-1]


async def test_the_pickup_list_and_its_code_box(console: World) -> None:
    people = await a_busy_day(console)
    leader = console.leader
    codes = dict(await console.rows("SELECT id, code FROM orders WHERE status = 'confirmed'"))
    _, group, _ = await ask(console, f"/api/view/group/{GROUP_ID}", leader)
    day = re.search(r"pickup/-?\d+\?day=([0-9-]+)", group)[1]  # type: ignore[index]

    status, pickup, _ = await ask(console, f"/api/view/pickup/{GROUP_ID}?day={day}", leader)
    assert status == 200 and all(code in pickup for code in codes.values())
    assert "No pickup point" in visible(pickup)

    ann_code = codes[1]
    body = {"chat_id": GROUP_ID, "day": day, "code": ann_code.lower()}
    _, checked, _ = await ask(console, "/api/collect", leader, body)
    assert f"Order #1 ({people['Ann'].name}): collected." in visible(checked)
    assert await console.rows("SELECT collected_at IS NOT NULL FROM orders WHERE id = 1") == [(1,)]
    body["code"] = "ZZZZZ"
    _, missed, _ = await ask(console, "/api/collect", leader, body)
    assert "No confirmed order has the code ZZZZZ." in visible(missed)


async def test_csv_downloads_are_the_exports(console: World) -> None:
    await a_busy_day(console)
    _, group, _ = await ask(console, f"/api/view/group/{GROUP_ID}", console.leader)
    day = re.search(r"csv/day/-?\d+\?day=([0-9-]+)", group)[1]  # type: ignore[index]

    status, text, headers = await ask(console, f"/api/csv/day/{GROUP_ID}?day={day}", console.leader)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert f'filename="orders-{day}.csv"' in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 6 and {r["deal_title"] for r in rows} == {"Mangoes", "Lychee"}
    _, text, _ = await ask(console, "/api/csv/deal/1", console.leader)
    statuses = sorted(r["status"] for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert statuses == ["cancelled"] + ["confirmed"] * 4


async def test_the_chart_draws_thirty_days_as_svg(console: World) -> None:
    await a_busy_day(console)
    status, chart, _ = await ask(console, f"/api/view/chart/{GROUP_ID}", console.leader)
    assert status == 200 and chart.count("<svg") == 3
    assert chart.count('<rect class="bar"') == 90
    words = visible(chart)
    assert "Revenue per day · 30 days: ¥94.50" in words
    assert "Orders per day · 30 days: 6" in words and "Units per day · 30 days: 9" in words


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/view/deal/one", None, 404),
        ("/api/view/deal/99999999999999999999", None, 404),
        (f"/api/view/pickup/{GROUP_ID}?day=2024-13-45", None, 400),
        (f"/api/view/pickup/{GROUP_ID}?day=tomorrow", None, 400),
        ("/api/mark", {"order_id": "1", "mark": "paid", "value": True}, 400),
        ("/api/mark", {"order_id": 1, "mark": "eaten", "value": True}, 400),
        ("/api/mark", {"order_id": 1, "mark": "paid", "value": "yes"}, 400),
        ("/api/mark", {"order_id": 424242, "mark": "paid", "value": True}, 404),
        ("/api/collect", {"chat_id": GROUP_ID, "code": "X" * 17}, 400),
        ("/api/remind", {"chat_id": True}, 400),
    ],
)
async def test_inputs_are_checked(
    console: World, path: str, body: dict[str, Any] | None, status: int
) -> None:
    answered, _, _ = await ask(console, path, console.leader, body)
    assert answered == status


async def test_a_body_that_is_not_a_json_object_is_refused(console: World) -> None:
    headers = {INIT_DATA_HEADER: init_data(console, console.leader)}
    async with aiohttp.ClientSession() as session:
        for data, kind in (("[1]", "application/json"), ("order_id=1", "text/plain")):
            async with session.post(
                console.console_url + "/api/mark",
                data=data,
                headers=headers | {"Content-Type": kind},
            ) as response:
                assert response.status == 400


async def test_user_text_is_escaped(console: World) -> None:
    console.leader.opens_private_chat()
    await console.leader.posts(
        "<b>Mangoes</b> & <script>x</script>\nprice: 1\nmin: 2\ndeadline: 1h"
    )
    _, group, _ = await ask(console, f"/api/view/group/{GROUP_ID}", console.leader)
    assert "<script>" not in group and "&lt;script&gt;" in group


async def test_too_many_requests_are_answered_429(api: FakeBotAPI, tmp_path: Path) -> None:
    port = free_port()
    webapp = console_settings(port, requests_per_minute=3)
    async with running_world(api, tmp_path, "sqlite", webapp=webapp) as world:
        world.console_url = f"http://127.0.0.1:{port}"
        answers = [(await ask(world, "/api/view/home", world.leader))[0] for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        member = world.member("Ann")
        assert (await ask(world, "/api/view/home", member))[0] == 200, "a budget per user"


async def test_summary_and_orders_carry_the_consoles_button(console: World) -> None:
    people = await a_busy_day(console)
    leader = console.leader

    await leader_summary(console)
    summary = next(
        m for m in console.api.bot_messages(leader.id) if m["text"].startswith("📋 Summary")
    )
    assert summary["reply_markup"]["inline_keyboard"][0][0]["web_app"]["url"] == (
        "https://console.example/"
    )
    await leader.says_and_hears("/orders", leader.id)
    assert console.api.bot_messages(leader.id)[-1]["reply_markup"]["inline_keyboard"]
    ann = people["Ann"]
    await ann.says_and_hears("/orders", ann.id)
    assert "reply_markup" not in console.api.bot_messages(ann.id)[-1], "a member has the menu"


async def test_with_the_webhook_on_the_console_is_served_beside_it(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    port = free_port()
    webhook = {
        "enabled": True,
        "url": f"http://127.0.0.1:{port}/hook",
        "port": port,
        "path": "hook",
        "secret_token": "s3cret-token",
    }
    webapp = console_settings(free_port())  # its own port is not used then
    async with running_world(api, tmp_path, "sqlite", webapp=webapp, webhook=webhook) as world:
        world.console_url = f"http://127.0.0.1:{port}"
        status, home, _ = await ask(world, "/api/view/home", world.leader)
        assert status == 200 and "My orders" in home
        assert (await ask(world, "/healthz"))[0] == 200
        assert (await ask(world, "/api/view/home"))[0] == 401
