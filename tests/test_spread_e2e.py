"""One deal in several groups (`groups:` in the form, /share), with one stock across them
or a deal of its own in each, and helper leaders (/helpsell) earning a commission."""

from __future__ import annotations

import asyncio
import csv
import io
import re

from tests.conftest import GROUP_ID, Person, World

OAK = -1001000000201
PINE = -1001000000202
HELPER_GROUP = -1001000000301

APPLES = "Fuji apples\nprice: 10\nmin: 2\ndeadline: 3h\nstock: 6"


async def groups_led_by_lena(world: World) -> None:
    """Two more groups Lena leads, each known to the bot (it saw a message there)."""
    world.api.group(OAK, "Oak Street", creator=world.leader.user)
    world.api.group(PINE, "Pine Court", creator=world.leader.user)
    for chat in (OAK, PINE):
        await world.leader.says_and_hears("/deals", chat)


def cards_in(world: World, chat_id: int) -> list[int]:
    """The bot's messages in a group that carry buttons (deal cards)."""
    return [int(m["message_id"]) for m in world.api.bot_messages(chat_id) if m.get("reply_markup")]


async def test_one_deal_in_three_groups_with_shared_stock_sells_out_once(world: World) -> None:
    await groups_led_by_lena(world)
    home = await world.leader.posts(f"{APPLES}\ngroups: Oak Street, pine court")
    await world.api.wait_for("sendMessage", chat_id=PINE)  # the cards go one group after another
    oak, pine = cards_in(world, OAK)[0], cards_in(world, PINE)[0]
    for chat, card in ((OAK, oak), (PINE, pine)):
        text = world.card(card, chat)
        assert "Fuji apples" in text and "deal #1" in text and "Stock left: 6 of 6" in text
    assert await world.rows("SELECT COUNT(*) FROM deals") == [(1,)], "one deal, one stock"

    # Twelve members tap Join at once, four on each group's card: six units, sold once.
    where = [(GROUP_ID, home), (OAK, oak), (PINE, pine)] * 4
    members = [world.member(f"M{i}") for i in range(len(where))]
    answers = await asyncio.gather(
        *(m.taps("Join", card, chat) for m, (chat, card) in zip(members, where, strict=True))
    )
    assert sum("You're in" in a or "formed" in a.lower() for a in answers) == 6, answers
    assert sum("Sold out" in a or "sold out" in a for a in answers) == 6, answers
    await world.settle()

    assert await world.rows("SELECT SUM(quantity) FROM orders WHERE status <> 'cancelled'") == [
        (6,)
    ]
    assert await world.rows("SELECT taken, status FROM deals") == [(6, "closed")]
    via = dict(
        await world.rows(
            "SELECT COALESCE(via_chat_id, 0), COUNT(*) FROM orders GROUP BY via_chat_id"
        )
    )
    assert sum(via.values()) == 6 and set(via) <= {0, OAK, PINE}
    for chat, card in ((GROUP_ID, home), (OAK, oak), (PINE, pine)):
        text = world.card(card, chat)
        assert "Sold out — 6 of 6" in text, (chat, text)
        assert not world.labels(card, chat), "an ended deal's cards have no buttons"
        formed = [t for t in map(world.visible, _sent(world, chat)) if " formed with " in t]
        assert len(formed) == 3, f"group {chat} heard each of the 3 rounds form: {formed}"

    # The leader's summary splits the deal by group; the CSV names each order's group.
    world.leader.opens_private_chat()
    await world.leader.says_and_hears("/summary", GROUP_ID)
    await world.settle()
    summary = next(t for t in world.leader.private_texts() if "Summary" in t)
    titles = {0: "Mango lovers", OAK: "Oak Street", PINE: "Pine Court"}
    for chat, orders in via.items():
        assert re.search(rf"in {titles[chat]}: {orders} units? · ¥{orders * 10}\.00", summary)
    world.leader.says("/export", GROUP_ID)
    await world.api.wait_until(lambda: world.api.documents(world.leader.id))
    rows = list(
        csv.DictReader(
            io.StringIO(world.api.documents(world.leader.id)[0]["data"].decode("utf-8-sig"))
        )
    )
    assert len(rows) == 6
    assert {(int(r["sold_in_group_id"]), r["sold_in_group"]) for r in rows} <= {
        (GROUP_ID, "Mango lovers"),
        (OAK, "Oak Street"),
        (PINE, "Pine Court"),
    }
    assert sorted(int(r["sold_in_group_id"]) for r in rows) == sorted(
        chat or GROUP_ID for chat, orders in via.items() for _ in range(orders)
    )


async def test_a_form_naming_a_group_the_leader_does_not_lead_posts_nothing(world: World) -> None:
    await groups_led_by_lena(world)
    world.api.group(-1001000000999, "Elm Row")  # Lena is not its admin
    await world.member("Ann").says_and_hears("/deals", -1001000000999)

    answer = await world.leader.says_and_hears(f"/deal {APPLES}\ngroups: Oak Street, Elm Row")
    assert "I don't know a group called “Elm Row” that you lead" in answer
    assert await world.rows("SELECT COUNT(*) FROM deals") == [(0,)]
    assert not cards_in(world, OAK)

    # Once she has posted in Oak, the answer names it among her groups.
    await world.leader.posts("Plums\nprice: 5\nmin: 1\ndeadline: 1h", OAK)
    answer = await world.leader.says_and_hears(f"/deal {APPLES}\ngroups: Elm Row")
    assert "Your other groups: Oak Street" in answer
    assert await world.rows("SELECT chat_id FROM deals") == [(OAK,)]


async def test_per_group_stock_posts_a_deal_of_its_own_in_each_group(world: World) -> None:
    await groups_led_by_lena(world)
    await world.leader.posts(
        "Pears\nprice: 8\nmin: 1\ndeadline: 2h\n库存: 3 分群\ngroups: Oak Street"
    )
    await world.api.wait_for("sendMessage", chat_id=OAK, where=lambda r: "reply_markup" in r.params)
    (*first, deadline), (*second, copy_deadline) = await world.rows(
        "SELECT id, chat_id, stock, stock_scope, copied_from, deadline FROM deals ORDER BY id"
    )
    assert first == [1, GROUP_ID, 3, "per-group", None]
    assert second == [2, OAK, 3, "per-group", 1] and copy_deadline == deadline
    oak = cards_in(world, OAK)[0]
    assert "deal #2" in world.card(oak, OAK) and "Stock left: 3 of 3" in world.card(oak, OAK)
    ann = world.member("Ann")
    await ann.taps("Join", oak, OAK)
    await world.settle()
    assert "Stock left: 2 of 3" in world.card(oak, OAK)
    home = cards_in(world, GROUP_ID)[0]
    assert "Stock left: 3 of 3" in world.card(home), "each group its own stock"


async def test_share_shows_the_deal_in_another_group_and_refuses_others(world: World) -> None:
    await groups_led_by_lena(world)
    home = await world.leader.posts(APPLES)
    ann, bo = world.member("Ann"), world.member("Bo")

    assert "only" in (await ann.says_and_hears("/share 1", OAK)).lower(), "members may not"
    assert "/share &lt;deal&gt;" not in await world.leader.says_and_hears("/share", OAK)
    assert "<code>/share" in _last_html(world, OAK), "usage for a bare /share"
    assert "this group's own deal" in await world.leader.says_and_hears("/share 1", GROUP_ID)

    since = len(world.api.requests)
    world.leader.says("/share 1", OAK)
    await world.api.wait_for("sendMessage", since=since, chat_id=OAK)
    oak = cards_in(world, OAK)[0]
    assert "Fuji apples" in world.card(oak, OAK)
    assert "already" in await world.leader.says_and_hears("/share 1", OAK)
    deals = await world.leader.says_and_hears("/deals", OAK)
    assert "Fuji apples" in deals, "/deals in Oak lists the deal it shows"

    await ann.taps("Join", home)
    await bo.taps("Join", oak, OAK)
    await world.settle()
    assert await world.rows("SELECT user_id, via_chat_id FROM orders ORDER BY id") == [
        (ann.id, None),
        (bo.id, OAK),
    ]
    for chat, card in ((GROUP_ID, home), (OAK, oak)):
        assert "Stock left: 4 of 6" in world.card(card, chat)

    # Someone who leads Pine but not the deal's group cannot see the deal at all.
    cy = world.member("Cy")
    world.api.group(-1001000000777, "Cy's group", creator=cy.user)
    answer = await cy.says_and_hears("/share 1", -1001000000777)
    assert "There is no deal #1" in answer
    assert not cards_in(world, -1001000000777)


async def test_a_forged_tap_from_a_group_not_showing_the_deal_is_refused(world: World) -> None:
    await groups_led_by_lena(world)
    home = await world.leader.posts(APPLES)
    join = world.button(GROUP_ID, home, "Join")
    ann = world.member("Ann")
    # Pine is Lena's too, but the deal is not shown there: a button copied into it is refused.
    message = world.api.send_text(PINE, world.leader.id, "a message to hang a button on")
    answer = await ann.taps_data(int(message["message_id"]), join, PINE)
    assert answer == world.service.texts.render("tap_elsewhere", "en")
    assert await world.rows("SELECT COUNT(*) FROM orders") == [(0,)]


async def test_a_helper_leaders_commission_is_credited_then_reversed(world: World) -> None:
    world.leader.opens_private_chat()
    await world.leader.posts(APPLES)
    link_text = await world.leader.says_and_hears("/helpsell 1 10%", world.leader.id)
    assert "10%" in link_text
    payload = re.search(r"start=(\S+)", link_text)
    assert payload is not None

    hana = world.member("Hana")
    world.api.group(HELPER_GROUP, "Hana's street", creator=hana.user)
    assert "There is no deal #1" in await hana.says_and_hears("/share 1", HELPER_GROUP)
    forged = payload[1].replace("_1000_", "_5000_")
    assert "link" in (await hana.says_and_hears(f"/start {forged}", hana.id)).lower()
    accepted = await hana.says_and_hears(f"/start {payload[1]}", hana.id)
    assert "You're helping sell Fuji apples" in accepted and "10%" in accepted

    since = len(world.api.requests)
    hana.says("/share 1", HELPER_GROUP)
    await world.api.wait_for("sendMessage", since=since, chat_id=HELPER_GROUP)
    card = cards_in(world, HELPER_GROUP)[0]
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await ann.taps("Join", card, HELPER_GROUP)
    await ann.taps("Join", card, HELPER_GROUP)  # two units: ¥20.00, commission ¥2.00
    await bo.taps("Join", card, HELPER_GROUP)  # the round forms with Ann and Bo
    await world.settle()
    await cy.taps("Join", cards_in(world, GROUP_ID)[0])  # round 2, the deal's own group
    await world.settle()

    commissions = await world.rows("SELECT user_id, kind, amount, order_id FROM ledger ORDER BY id")
    assert [(u, k, a) for u, k, a, _ in commissions] == [
        (hana.id, "commission", 200),
        (hana.id, "commission", 100),
    ], "credited once per order from her group, when the round formed"
    rewards = await hana.says_and_hears("/rewards", hana.id)
    assert "helper commission for order" in rewards and "¥3.00" in rewards

    # The deal's leader sees the split and the commission.
    await world.leader.says_and_hears("/summary", GROUP_ID)
    await world.settle()
    summary = next(t for t in world.leader.private_texts() if "Summary" in t)
    assert "in Hana's street: 3 units · ¥30.00 · helper commission ¥3.00" in summary, summary
    assert "Helper leaders' commissions" in summary and "Hana" in summary

    # Hana's own summary lists the orders that came through her group (hers to serve),
    # without a mark panel: marks are the deal's own group's leaders' to set.
    since = len(hana.private_texts())
    await hana.says_and_hears("/summary", HELPER_GROUP)
    await world.settle()
    hers = hana.private_texts()[since:]
    report = next(t for t in hers if "Summary" in t)
    assert "Fuji apples" in report and "Ann × 2" in report and "Bo × 1" in report, report
    assert "Cy" not in report, "an order from the deal's own group is not hers"
    assert not any("tap to mark" in t for t in hers)
    hana.says("/export", HELPER_GROUP)  # the day's CSV: the same orders, hers to serve
    await world.api.wait_until(lambda: world.api.documents(hana.id))
    data = world.api.documents(hana.id)[0]["data"].decode("utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(data)))
    assert sorted((r["member_name"], r["quantity"], r["sold_in_group"]) for r in exported) == [
        ("Ann", "2", "Hana's street"),
        ("Bo", "1", "Hana's street"),
    ]
    assert {r["helper_commission"] for r in exported} == {"2.00", "1.00"}

    await world.leader.says_and_hears("/cancel 1", GROUP_ID)
    await world.settle()
    ledger = await world.rows("SELECT user_id, kind, amount FROM ledger ORDER BY id")
    assert ledger[2:] == [(hana.id, "reversal", -200), (hana.id, "reversal", -100)]
    assert "¥0.00" in await hana.says_and_hears("/rewards", hana.id)
    cancelled = [t for t in map(world.visible, _sent(world, HELPER_GROUP)) if "cancel" in t]
    assert cancelled, "the helper's group heard the deal was cancelled"


def _sent(world: World, chat_id: int) -> list[dict[str, object]]:
    return [
        r.params
        for r in world.api.requests
        if r.method == "sendMessage" and r.ok and r.params.get("chat_id") == chat_id
    ]


def _last_html(world: World, chat_id: int) -> str:
    return str(_sent(world, chat_id)[-1]["text"])


async def test_deal_members_of_a_helper_are_told_in_their_words(world: World) -> None:
    """A Russian helper group's card and announcement are in Russian, the deal's own in
    English."""
    hana = world.member("Hana")
    world.api.group(HELPER_GROUP, "Ханин двор", creator=hana.user)
    await hana.says_and_hears("/settings lang ru", HELPER_GROUP)
    world.leader.opens_private_chat()
    await world.leader.posts(APPLES)
    link_text = await world.leader.says_and_hears("/helpsell 1 7.5", world.leader.id)
    payload = re.search(r"start=(\S+)", link_text)
    assert payload is not None and "7.5%" in link_text
    await hana.says_and_hears(f"/start {payload[1]}", hana.id)
    since = len(world.api.requests)
    hana.says("/share 1", HELPER_GROUP)
    await world.api.wait_for("sendMessage", since=since, chat_id=HELPER_GROUP)
    card = cards_in(world, HELPER_GROUP)[-1]
    text = world.card(card, HELPER_GROUP)
    assert "закупка #1" in text and "Остаток: 6 из 6" in text and "10,00\xa0¥" in text

    join = world.api.buttons(HELPER_GROUP, card)[0][1]  # the first button: Join, in Russian
    for name in ("Ann", "Bo"):
        await world.member(name).taps_data(card, str(join), HELPER_GROUP)
    await world.settle()
    there = [world.visible(p) for p in _sent(world, HELPER_GROUP)]
    here = [world.visible(p) for p in _sent(world, GROUP_ID)]
    assert any("Fuji apples" in t and "Раунд 1" in t for t in there), there
    assert any("Fuji apples: round 1 formed with 2 members" in t for t in here), here
    assert "Остаток: 4 из 6" in world.card(card, HELPER_GROUP)


async def helper_selling(world: World, commission: str = "10%") -> tuple[Person, int]:
    """Lena's deal #1 (APPLES) shown in Hana's group, Hana its helper; (Hana, her card)."""
    world.leader.opens_private_chat()
    await world.leader.posts(APPLES)
    link_text = await world.leader.says_and_hears(f"/helpsell 1 {commission}", world.leader.id)
    payload = re.search(r"start=(\S+)", link_text)
    assert payload is not None
    hana = world.member("Hana")
    world.api.group(HELPER_GROUP, "Hana's street", creator=hana.user)
    await hana.says_and_hears(f"/start {payload[1]}", hana.id)
    since = len(world.api.requests)
    hana.says("/share 1", HELPER_GROUP)
    await world.api.wait_for("sendMessage", since=since, chat_id=HELPER_GROUP)
    return hana, cards_in(world, HELPER_GROUP)[-1]


async def test_a_helper_is_never_paid_twice_for_one_order(world: World) -> None:
    """Not on her own order, nor on a friend's whose referral reward she already earns."""
    assert "Saved" in await world.leader.says_and_hears("/settings reward 5%")
    hana, card = await helper_selling(world)
    dan = world.member("Dan")
    invite = world.service.referrals.invite_link("groupbuy_test_bot", 1, hana.id)
    await dan.says_and_hears(f"/start {invite.rsplit('=', 1)[1]}", dan.id)
    await hana.taps("Join", card, HELPER_GROUP)  # her own order
    await dan.taps("Join", card, HELPER_GROUP)  # her referral: the round forms
    await world.settle()

    ledger = await world.rows(
        "SELECT l.user_id, l.kind, l.amount, o.user_id FROM ledger l"
        " JOIN orders o ON o.id = l.order_id ORDER BY l.id"
    )
    assert ledger == [(hana.id, "reward", 50, dan.id)], "one payment, the referral reward"


async def test_two_shares_at_once_post_one_card(world: World) -> None:
    await groups_led_by_lena(world)
    await world.leader.posts(APPLES)
    since = len(world.api.requests)
    world.leader.says("/share 1", OAK)
    world.leader.says("/share 1", OAK)
    answer = await world.api.wait_for(
        "sendMessage", since=since, chat_id=OAK, where=lambda r: "reply_markup" not in r.params
    )
    assert "already" in world.visible(answer.params)
    await world.api.wait_for(
        "sendMessage", since=since, chat_id=OAK, where=lambda r: "reply_markup" in r.params
    )
    for _ in range(100):  # the card's message id is noted right after it is sent
        if (stored := await world.rows("SELECT chat_id, card_message_id FROM deal_groups")) != [
            (OAK, 0)
        ]:
            break
        await asyncio.sleep(0.02)
    assert len(cards_in(world, OAK)) == 1
    assert stored == [(OAK, cards_in(world, OAK)[0])]


async def test_odd_group_names_and_another_currency_post_nothing(world: World) -> None:
    await groups_led_by_lena(world)
    for name in ("--5", "²", "99999999999999999999", "-"):
        answer = await world.leader.says_and_hears(f"/deal {APPLES}\ngroups: {name}")
        assert "I don't know a group called" in answer, (name, answer)
    world.api.group(-1001000000444, "Двор Ромашка", creator=world.leader.user)
    await world.leader.says_and_hears("/settings currency RUB", -1001000000444)
    answer = await world.leader.says_and_hears(f"/deal {APPLES}\ngroups: двор ромашка")
    assert "“Двор Ромашка” uses RUB, so nothing was posted" in answer, answer
    assert await world.rows("SELECT COUNT(*) FROM deals") == [(0,)]


async def test_repost_with_groups_posts_the_copy_there_too(world: World) -> None:
    await groups_led_by_lena(world)
    await world.leader.posts(APPLES)
    since = len(world.api.requests)
    world.leader.says("/repost 1 groups=Oak Street")
    await world.api.wait_for("sendMessage", since=since, chat_id=OAK)
    assert await world.rows("SELECT id, chat_id FROM deals ORDER BY id") == [
        (1, GROUP_ID),
        (2, GROUP_ID),
    ]
    assert await world.rows("SELECT deal_id, chat_id FROM deal_groups") == [(2, OAK)]
    assert "deal #2" in world.card(cards_in(world, OAK)[0], OAK)
