"""Who may see and join a deal: its group, or whoever holds a signed link to its card."""

from __future__ import annotations

from tests.conftest import Person, World

DEAL = "Mangoes\nprice: 12.50\nmin: 3\ndeadline: 1d\nnote: pick up at 12 Secret Lane"
OTHER_GROUP = -1009876543210


async def orders(world: World) -> list[tuple[int, ...]]:
    return await world.rows("SELECT user_id FROM orders ORDER BY id")


def private_card(world: World, person: Person) -> int:
    """The last message with buttons the bot sent this person privately."""
    found = [m for m in world.api.bot_messages(person.id) if m.get("reply_markup")]
    assert found, "no card was shown privately"
    return int(found[-1]["message_id"])


async def test_outsider_cannot_open_another_groups_card(world: World) -> None:
    card = await world.leader.posts(DEAL)
    await world.member("Ann").taps("Join", card)
    zed = world.member("Zed")

    for payload in ("d1", "i1", "d1_forged", "i1_AAAAAAAAAAAA"):
        answer = await zed.says_and_hears(f"/start {payload}", chat_id=zed.id)
        assert "new link" in answer or "not valid" in answer, answer
    assert "no open deal" in await zed.says_and_hears("/invite 1", chat_id=zed.id)
    await world.settle()
    told = "\n".join(zed.private_texts())
    for secret in ("Mangoes", "Secret Lane", "Ann", "start=r"):
        assert secret not in told, secret
    assert not [m for m in world.api.bot_messages(zed.id) if m.get("reply_markup")]


async def test_a_forged_join_on_another_message_is_refused(world: World) -> None:
    card = await world.leader.posts(DEAL)
    zed = world.member("Zed")
    await zed.says_and_hears("/start", chat_id=zed.id)  # a private message of the bot
    welcome = world.api.bot_messages(zed.id)[-1]["message_id"]
    other_leader = world.api.user(1002, "Olga", username="olga")
    world.api.group(OTHER_GROUP, "Other group", creator=other_leader)
    other_card = await Person(world, other_leader).posts(DEAL, chat_id=OTHER_GROUP)

    for data in ("v1:join:1", "v1:join:1:123456", "v1:wait:1", "v1:leave:1", "v1:invite:1"):
        answer = await zed.taps_data(welcome, data, chat_id=zed.id)
        assert "does not work here" in answer, (data, answer)
        answer = await zed.taps_data(other_card, data, chat_id=OTHER_GROUP)
        assert "does not work here" in answer, (data, answer)
    await world.settle()
    assert await orders(world) == []
    assert "Zed" not in world.card(card)
    # The deal's own card still works, and the other group's card for its own deal too.
    assert (await zed.taps("Join", card)).startswith("You're in")
    assert (await zed.taps("Join", other_card, chat_id=OTHER_GROUP)).startswith("You're in")


async def test_a_signed_card_link_opens_the_card_and_its_join_works(world: World) -> None:
    world.api.group(-555, "Basic mangoes", creator=world.leader.user, chat_type="group")
    await world.leader.posts(DEAL, chat_id=-555)
    listed = await world.leader.says_and_hears("/deals", chat_id=-555)
    sent = world.api.bot_messages(-555)[-1]
    assert "Mangoes" in listed
    link = next(e["url"] for e in sent.get("entities", []) if e.get("url"))
    payload = link.split("?start=")[1]
    assert payload.startswith("d1_"), "a basic group's /deals links to a signed card link"

    bo = world.member("Bo")
    await bo.says_and_hears(f"/start {payload}", chat_id=bo.id)
    opened = private_card(world, bo)
    assert "Secret Lane" in world.card(opened, chat_id=bo.id)
    assert (await bo.taps("Join", opened, chat_id=bo.id)).startswith("You're in")
    assert await orders(world) == [(bo.id,)]

    # The same buttons copied to another person's private chat count for nothing there.
    cy = world.member("Cy")
    await cy.says_and_hears("/start", chat_id=cy.id)
    welcome = world.api.bot_messages(cy.id)[-1]["message_id"]
    data = world.button(bo.id, opened, "Join")
    assert "does not work here" in await cy.taps_data(welcome, data, chat_id=cy.id)
    assert await orders(world) == [(bo.id,)]


async def test_a_privately_opened_card_keeps_the_groups_privacy(world: World) -> None:
    assert "Saved" in await world.leader.says_and_hears("/settings privacy counts")
    card = await world.leader.posts(DEAL)
    await world.member("Ann").taps("Join", card)
    bo = world.member("Bo")
    await bo.says_and_hears(f"/start {world.service.links.deal(1)}", chat_id=bo.id)
    shown = world.card(private_card(world, bo), chat_id=bo.id)
    assert "Mangoes" in shown and "1 member" in shown
    assert "Ann" not in shown
