"""Referrals end to end: invite links, attribution, rewards, reversals, invites, payouts."""

from __future__ import annotations

from tests.conftest import GROUP_ID, Person, World

DEAL = "Mangoes\nprice: 12.50\nmin: 2\ndeadline: 1d"


async def personal_link(world: World, person: Person, card: int) -> str:
    """Tap Invite and read the personal link: it comes privately to a member who started
    the bot; one who never did follows the tap's deep link to the bot, which gives it."""
    since = len(world.api.requests)
    query = world.api.tap(GROUP_ID, person.id, card, world.button(GROUP_ID, card, "Invite"))
    answer = await world.api.wait_answer(query)
    if "url" in answer:
        payload = answer["url"].split("?start=")[1]
        reply = await person.says_and_hears(f"/start {payload}", chat_id=person.id)
    else:
        sent = await world.api.wait_for(
            "sendMessage", since=since, where=lambda r: r.params.get("chat_id") == person.id
        )
        reply = world.visible(sent.params)
    link = next(word for word in reply.split() if word.startswith("https://t.me/"))
    return link.split("?start=")[1]


async def opens(world: World, person: Person, payload: str) -> str:
    """Open a deep link (/start payload) privately; return what the bot said first."""
    return await person.says_and_hears(f"/start {payload}", chat_id=person.id)


async def referrals(world: World) -> list[tuple[int, int]]:
    return await world.rows("SELECT referee_id, referrer_id FROM referrals ORDER BY created_at")


async def test_a_friend_joins_through_my_link_and_i_earn_then_lose_the_reward(
    world: World,
) -> None:
    assert "Saved" in await world.leader.says_and_hears("/settings reward 10%")
    card = await world.leader.posts(DEAL)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")

    payload = await personal_link(world, ann, card)
    welcome = await opens(world, bo, payload)
    assert "Ann invited you" in welcome
    private_card = await world.api.wait_until(
        lambda: next(
            (m["message_id"] for m in world.api.bot_messages(bo.id) if m.get("reply_markup")),
            None,
        )
    )
    before = world.card(private_card, chat_id=bo.id)
    answer = await bo.taps("Join", private_card, chat_id=bo.id)
    assert answer.startswith("You're in")
    await world.api.wait_until(lambda: world.card(private_card, chat_id=bo.id) != before)
    assert "Bo" in world.card(private_card, chat_id=bo.id), "the private copy shows the tap"
    await cy.taps("Join", card)  # the round forms: Bo's order is confirmed
    await world.settle()

    rewards = await ann.says_and_hears("/rewards", chat_id=ann.id)
    assert "Mango lovers: ¥1.25" in rewards
    assert "¥1.25 — reward for order #1" in rewards

    await world.leader.says_and_hears("/cancel 1")
    await world.settle()
    rewards = await ann.says_and_hears("/rewards", chat_id=ann.id)
    assert "Mango lovers: ¥0.00" in rewards
    assert "-¥1.25 — order #1 cancelled" in rewards


async def test_self_referral_and_forged_links_change_nothing(world: World) -> None:
    card = await world.leader.posts(DEAL)
    ann, bo = world.member("Ann"), world.member("Bo")
    payload = await personal_link(world, ann, card)

    assert "your own invite link" in await opens(world, ann, payload)
    forged = payload.replace(f"_{ann.id}_", f"_{bo.id}_")
    assert "not valid" in await opens(world, world.member("Cy"), forged)
    assert "not valid" in await opens(world, world.member("Di"), payload[:-2] + "xx")
    assert await referrals(world) == []


async def test_first_attribution_wins_and_closed_deals_say_so(world: World) -> None:
    card = await world.leader.posts(DEAL)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    from_ann = await personal_link(world, ann, card)
    from_bo = await personal_link(world, bo, card)

    await opens(world, cy, from_ann)
    await opens(world, cy, from_bo)
    assert await referrals(world) == [(cy.id, ann.id)]
    await opens(world, ann, from_bo)  # Bo may not bring Ann, who already brought…
    assert (ann.id, bo.id) in await referrals(world)  # …no one yet, so this is fine,
    await opens(world, bo, from_ann)  # but now Ann may not bring Bo: a cycle
    assert (bo.id, ann.id) not in await referrals(world)

    await world.leader.says_and_hears("/close 1 cancel")
    assert "no longer open" in await opens(world, world.member("Di"), from_ann)


async def test_group_invites_count_on_the_leaderboard(world: World) -> None:
    ann = world.member("Ann")
    dan = world.api.user(4001, "Dan")
    world.api.push_update(
        {
            "chat_member": {
                "chat": world.api.chats[GROUP_ID],
                "from": ann.user,
                "date": 1_800_000_000,
                "old_chat_member": {"status": "left", "user": dan},
                "new_chat_member": {"status": "member", "user": dan},
            }
        }
    )
    await world.api.wait_until(lambda: world.api.requests)  # the bot is polling
    board = ""
    for _ in range(50):
        board = await world.member().says_and_hears("/top")
        if "Ann" in board:
            break
    assert "1. Ann — 0 referred orders, 1 member added" in board


async def test_payout_is_a_ledger_entry_within_the_balance(world: World) -> None:
    await world.leader.says_and_hears("/settings reward 2.00")
    card = await world.leader.posts(DEAL)
    ann, bo, cy = world.member("Ann"), world.member("Bo"), world.member("Cy")
    await opens(world, bo, await personal_link(world, ann, card))
    await bo.taps("Join", card)
    await cy.taps("Join", card)
    await world.settle()

    assert "more than zero and at most" in await world.leader.says_and_hears("/payout @ann 5.00")
    reply = await world.leader.says_and_hears("/payout @ann 1.50")
    assert "payout of ¥1.50 to Ann. Balance now: ¥0.50" in reply
    refused = await ann.says_and_hears("/payout @ann 0.50")
    assert "Only the group's leaders" in refused
    kinds = await world.rows("SELECT kind, amount FROM ledger ORDER BY id")
    assert kinds == [("reward", 200), ("payout", -150)]


async def test_settings_are_validated_and_leader_only(world: World) -> None:
    assert "not a valid tz" in await world.leader.says_and_hears("/settings tz Mars/Base")
    assert "not a valid levels" in await world.leader.says_and_hears("/settings levels 4")
    assert "Only the group's leaders" in await world.member("Ann").says_and_hears(
        "/settings levels 2"
    )
    shown = await world.leader.says_and_hears("/settings levels 2")
    assert "levels: 2" in shown


async def tap_invite(world: World, person: Person, card: int) -> dict[str, object]:
    """Tap Invite on the card; the tap's answer."""
    query = world.api.tap(GROUP_ID, person.id, card, world.button(GROUP_ID, card, "Invite"))
    return await world.api.wait_answer(query)


async def test_a_member_who_started_the_bot_gets_the_invite_link_in_one_step(
    world: World,
) -> None:
    card = await world.leader.posts(DEAL)
    ann, bo = world.member("Ann"), world.member("Bo")

    answer = await tap_invite(world, ann, card)

    assert "url" not in answer, "no detour through the deep link"
    assert answer["text"] == "I sent you your personal invite link privately."
    sent = ann.private_texts()[-1]
    assert sent.startswith("🔗 Your personal invite link for Mangoes:")
    link = next(word for word in sent.split() if word.startswith("https://t.me/"))
    assert "Ann invited you" in await opens(world, bo, link.split("?start=")[1])
    assert await referrals(world) == [(bo.id, ann.id)]


async def test_a_member_who_never_started_the_bot_goes_through_the_deep_link(
    world: World,
) -> None:
    card = await world.leader.posts(DEAL)
    shy = world.member("Shy", started=False)

    answer = await tap_invite(world, shy, card)

    assert str(answer["url"]).startswith("https://t.me/groupbuy_test_bot?start=")
    assert not answer.get("text")
    assert shy.private_texts() == [], "the bot could not write first"
    reply = await shy.says_and_hears(f"/start {str(answer['url']).split('?start=')[1]}", shy.id)
    assert "Your personal invite link for Mangoes" in reply


async def test_the_invite_link_comes_in_one_step_in_chinese_too(world: World) -> None:
    card = await world.leader.posts(DEAL)
    lin = world.member("Lin", lang="zh")

    answer = await tap_invite(world, lin, card)

    assert answer["text"] == "你的专属邀请链接已私聊发给你。"
    assert lin.private_texts()[-1].startswith("🔗 你在 Mangoes 的专属邀请链接：")
