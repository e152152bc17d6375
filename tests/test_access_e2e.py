"""Who may use what: each refusal comes from one access check (handlers/access.py) and
says what it always said, in the order it always did."""

from __future__ import annotations

from tests.conftest import GROUP_ID, World

NOT_LEADER = "Only the group's leaders can do that: its administrators and the leaders it names."
TAP_NOT_LEADER = "Only the group's leaders can do that."
TAP_STALE = "This button is out of date. Use /deals to see the open deals."
FORM = "/deal Mangoes\nprice: 12.50\nmin: 3\ndeadline: 1d"


def group_only(command: str) -> str:
    return f"Please use {command} in the group where the deal runs."


async def test_group_commands_sent_privately_say_where_to_use_them(world: World) -> None:
    bo = world.member("Bo")
    for person in (world.leader, bo):
        for text in (FORM, "/deals", "/close 1", "/cancel 1", "/top", "/payout @bo 5", "/settings"):
            reply = await person.says_and_hears(text, chat_id=person.id)
            assert reply == group_only(text.split()[0]), (person.name, text)
    # Named as its usage names it, however it was typed.
    typed = "/Deals@groupbuy_test_bot"
    assert await bo.says_and_hears(typed, chat_id=bo.id) == group_only("/deals")


async def test_a_deal_caption_for_another_bot_is_not_answered(world: World) -> None:
    bo = world.member("Bo")
    world.api.send_photo(bo.id, bo.id, "/deal@some_other_bot Mangoes\nprice: 1")
    # The next answer in that chat is the one to the next message.
    assert await bo.says_and_hears("/top", chat_id=bo.id) == group_only("/top")
    assert [m.get("text") for m in world.api.bot_messages(bo.id)] == [group_only("/top")]


async def test_a_member_is_refused_what_leaders_do(world: World) -> None:
    bo = world.member("Bo")
    for text in (
        FORM,
        "/payout @lena 5",
        "/settings",
        "/settings lang zh",
        "/close 1",
        "/cancel 1",
    ):
        assert await bo.says_and_hears(text) == NOT_LEADER, text
    for text in ("/restock 1 5", "/options 1 small: 1", "/unpaid", "/summary"):
        assert await bo.says_and_hears(text) == NOT_LEADER, text
        assert await bo.says_and_hears(text, chat_id=bo.id) == NOT_LEADER, text
    assert await world.rows("SELECT id FROM deals") == []
    # Where a command's usage is wrong, that is said before who may use it.
    assert (await bo.says_and_hears("/close")).startswith("Tell me which deal: /close <deal>")


async def test_leaders_post_deals_and_change_settings(world: World) -> None:
    await world.leader.posts(FORM.removeprefix("/deal "))
    assert "lang" in await world.leader.says_and_hears("/settings")


async def test_only_leaders_change_settings_by_button(world: World) -> None:
    await world.leader.says_and_hears("/settings")
    panel = world.api.bot_messages(GROUP_ID)[-1]["message_id"]
    data = str(world.api.buttons(GROUP_ID, panel)[0][1])
    bo = world.member("Bo")

    assert await bo.taps_data(panel, data) == TAP_NOT_LEADER
    # A button the handler cannot read is out of date, whoever taps it.
    assert await bo.taps_data(panel, "v1:set:999") == TAP_STALE
    assert await world.leader.taps_data(panel, "v1:set:999") == TAP_STALE
    assert (await world.leader.taps_data(panel, data)).endswith("✓")
