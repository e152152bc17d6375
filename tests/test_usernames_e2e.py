"""@username names the member who holds it now: the one seen with it most recently."""

from __future__ import annotations

from tests.conftest import Person, World


async def renamed(world: World, person: Person, username: str) -> None:
    """The person takes a username (Telegram tells the bot with their next update)."""
    world.api.user(person.id, person.name, username=username, language_code="en")


async def test_a_username_given_up_and_taken_addresses_its_new_holder(world: World) -> None:
    card = await world.leader.posts("Mangoes\nprice: 12.50\nmin: 2\ndeadline: 1d")
    annie = world.member("Annie")
    await renamed(world, annie, "ann")
    await annie.taps("Join", card)
    await world.settle()
    await world.pass_time(60)
    # Annie gave @ann up (the bot has not seen her since); Anna took it and joins.
    anna = world.member("Anna")
    await renamed(world, anna, "Ann")
    await anna.taps("Join", card)
    await world.settle()

    assert "Marked paid on 1 order" in await world.leader.says_and_hears("/paid 1 @ann")
    marked = await world.rows(
        "SELECT o.user_id FROM order_marks k JOIN orders o ON o.id = k.order_id"
    )
    assert marked == [(anna.id,)]
    payout = await world.leader.says_and_hears("/payout @ann 1")
    assert payout.startswith("Anna has a balance"), payout
    await world.leader.says_and_hears("/settings leaders add @ANN")
    assert await world.rows("SELECT user_id FROM group_leaders") == [(anna.id,)]
