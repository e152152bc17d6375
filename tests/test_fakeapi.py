"""Quick checks that the fake Bot API behaves like the real one for what the bot relies on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.fakeapi import (
    BUTTON_DATA_INVALID,
    CANT_INITIATE,
    NEXT_OFFSET_INVALID,
    NOT_MODIFIED,
    QUERY_INVALID,
    RESULT_ID_DUPLICATE,
    RESULT_ID_INVALID,
    RESULTS_TOO_MUCH,
    FakeBotAPI,
    HtmlError,
    parse_html,
)

TOKEN = "123456:TEST-TOKEN"
GROUP = -100500


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, bot_username="groupbuy_test_bot") as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=api.base_url) as real_bot:
        yield real_bot


async def call(
    http: aiohttp.ClientSession, api: FakeBotAPI, method: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """POST one raw request; returns (HTTP status, decoded body)."""
    async with http.post(f"{api.base_url}{api.token}/{method}", **kwargs) as response:
        return response.status, await response.json()


def keyboard(*data: str) -> str:
    """A JSON reply_markup with one callback button per data string."""
    rows = [[{"text": d, "callback_data": d}] for d in data]
    return json.dumps({"inline_keyboard": rows})


# ------------------------------------------------------------------------- wire format


async def test_parameters_in_every_encoding(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    api.group(GROUP, "Mango lovers")
    url = f"{api.base_url}{api.token}/sendMessage"
    async with http.get(url, params={"chat_id": str(GROUP), "text": "query"}) as response:
        assert (await response.json())["result"]["text"] == "query"
    form = {"chat_id": str(GROUP), "text": "[1, 2]", "reply_markup": keyboard("a")}
    status, body = await call(http, api, "sendMessage", data=form)
    assert status == 200 and body["ok"]
    assert body["result"]["text"] == "[1, 2]"  # free text is never JSON-decoded
    multipart = aiohttp.FormData({"chat_id": str(GROUP), "text": "multi"})
    multipart.add_field("document", b"x", filename="x.bin")  # forces multipart encoding
    status, body = await call(http, api, "sendMessage", data=multipart)
    assert body["result"]["message_id"] == 3
    status, body = await call(http, api, "SENDMESSAGE", json={"chat_id": GROUP, "text": "json"})
    assert body["result"]["message_id"] == 4
    sent = api.calls("sendMessage", chat_id=GROUP)
    assert [r.params["text"] for r in sent] == ["query", "[1, 2]", "multi", "json"]
    assert sent[1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"


async def test_envelopes_unknown_methods_and_token(
    api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "getMe")
    assert status == 200
    assert body["result"]["is_bot"] is True
    assert body["result"]["username"] == "groupbuy_test_bot"
    assert await call(http, api, "sendChatAction", data={"chat_id": "1"}) == (
        200,
        {"ok": True, "result": True},
    )
    assert api.calls("sendChatAction")[0].params == {"chat_id": 1}
    async with http.post(f"{api.base_url}999:WRONG/getMe") as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    status, body = await call(http, api, "sendMessage", data={"chat_id": "-1", "text": "x"})
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


# ---------------------------------------------------------------------------- real bot


async def test_real_bot_round_trip(api: FakeBotAPI, bot: telegram.Bot) -> None:
    alice = api.user(1001, "Alice", username="alice", language_code="en")
    api.group(GROUP, "Mango lovers", creator=alice)
    assert bot.username == "groupbuy_test_bot"

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Join", callback_data="v1:join:1")]])
    card = await bot.send_message(
        GROUP, "<b>Mangoes</b> 12 €", parse_mode="HTML", reply_markup=markup
    )
    assert card.message_id == 1
    assert card.text == "Mangoes 12 €"
    assert card.entities[0].type == "bold"
    assert api.message(GROUP, 1)["html"] == "<b>Mangoes</b> 12 €"
    assert api.buttons(GROUP, 1) == [("Join", "v1:join:1")]

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>Mangoes</b> 12 €", GROUP, 1, parse_mode="HTML", reply_markup=markup
        )
    edited = await bot.edit_message_text("<b>Mangoes</b> 12 €", GROUP, 1, parse_mode="HTML")
    assert isinstance(edited, telegram.Message)
    assert api.buttons(GROUP, 1) == []  # no reply_markup in an edit removes the keyboard

    with pytest.raises(Forbidden, match=r"(?i)bot can't initiate conversation with a user"):
        await bot.send_message(1001, "hi")
    api.send_text(1001, 1001, "/start")
    assert (await bot.send_message(1001, "hi")).chat.type == "private"

    api.flood(1, retry_after=3)
    with pytest.raises(RetryAfter) as flooded:
        await bot.send_message(GROUP, "too fast")
    assert "Retry in 3 seconds" in str(flooded.value)
    assert api.calls("sendMessage")[-1].status == 429

    api.fail(1)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()

    query_id = api.tap(GROUP, 1001, 1, "v1:join:1")
    updates = await bot.get_updates(timeout=0)
    assert [type(u) for u in updates] == [telegram.Update, telegram.Update]
    assert updates[0].message.text == "/start"
    tap = updates[1].callback_query
    assert tap is not None and tap.id == query_id and tap.data == "v1:join:1"
    assert isinstance(tap.message, telegram.Message) and tap.message.text == "Mangoes 12 €"
    assert await tap.answer("Joined!") is True
    assert (await api.wait_answer(query_id))["text"] == "Joined!"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await tap.answer("again")


async def test_real_bot_members_files_and_timeouts(api: FakeBotAPI, bot: telegram.Bot) -> None:
    owner, admin, member = api.user(1, "Owner"), api.user(2, "Admin"), api.user(3, "Member")
    api.user(4, "Stranger")
    api.group(GROUP, "Mango lovers", creator=owner, admins=[admin], members=[member])
    statuses = [(await bot.get_chat_member(GROUP, uid)).status for uid in (1, 2, 3, 4)]
    assert statuses == ["creator", "administrator", "member", "left"]
    assert isinstance(await bot.get_chat_member(GROUP, 2), telegram.ChatMemberAdministrator)
    admins = {m.user.id for m in await bot.get_chat_administrators(GROUP)}
    assert admins == {1, 2, api.bot_id}
    assert (await bot.get_chat(GROUP)).title == "Mango lovers"
    with pytest.raises(BadRequest, match=r"(?i)user not found"):
        await bot.get_chat_member(GROUP, 77)

    sent = await bot.send_document(GROUP, b"id,qty\n1,2\n", filename="orders.csv", caption="x")
    assert sent.document.file_name == "orders.csv"
    assert sent.document.mime_type == "text/csv"
    assert api.documents(GROUP)[0]["data"] == b"id,qty\n1,2\n"
    photo = await bot.send_photo(GROUP, b"\x89PNG fake", caption="<i>ripe</i>", parse_mode="HTML")
    assert photo.caption == "ripe" and len(photo.photo) == 3
    again = await bot.send_photo(GROUP, photo.photo[-1].file_id)
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", GROUP, photo.message_id)
    assert (await bot.edit_message_caption(GROUP, photo.message_id, caption="ok")).caption == "ok"

    api.delay(0.3)
    with pytest.raises(TimedOut):
        await bot.send_message(GROUP, "slow", read_timeout=0.05)
    api.delay(0)
    # The request was processed even though the reply came too late, like on the real API.
    assert api.bot_messages(GROUP)[-1]["text"] == "slow"


async def test_application_polls_and_answers(api: FakeBotAPI) -> None:
    api.group(GROUP, "Mango lovers", creator=api.user(1001, "Alice"))
    join = InlineKeyboardMarkup([[InlineKeyboardButton("Join", callback_data="v1:join:1")]])

    async def deal(update: telegram.Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Mangoes</b>", reply_markup=join)

    async def tap(update: telegram.Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("joined")

    app = Application.builder().token(TOKEN).base_url(api.base_url).build()
    app.add_handler(CommandHandler("deal", deal))
    app.add_handler(CallbackQueryHandler(tap))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        command = api.send_text(GROUP, 1001, "/deal@groupbuy_test_bot Mangoes")
        sent = await api.wait_for("sendMessage", chat_id=GROUP)
        card = api.message(GROUP, sent.result["message_id"])
        assert card["reply_to_message"]["message_id"] == command["message_id"]
        assert card["text"] == "Mangoes" and card["html"] == "<b>Mangoes</b>"
        query = api.tap(GROUP, 1001, card["message_id"], "v1:join:1")
        assert (await api.wait_answer(query))["text"] == "joined"
        await app.updater.stop()
        await app.stop()


async def test_raw_pushed_messages_are_adopted(api: FakeBotAPI, bot: telegram.Bot) -> None:
    chat = {"id": 42, "type": "private", "first_name": "Raw"}
    sender = {"id": 42, "is_bot": False, "first_name": "Raw"}
    api.push_update(
        {"message": {"message_id": 7, "date": 0, "chat": chat, "from": sender, "text": "hi"}}
    )
    reply = await bot.send_message(42, "hello", reply_to_message_id=7)
    assert reply.message_id == 8 and reply.reply_to_message.text == "hi"
    assert [m["text"] for m in api.messages(42)] == ["hi", "hello"]
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(42, "x", reply_to_message_id=99)
    with pytest.raises(Forbidden, match=CANT_INITIATE.removeprefix("Forbidden: ")):
        await bot.send_message(api.user(43)["id"], "x")


# ------------------------------------------------------------------------ message state


async def test_edit_rules(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    api.group(GROUP, "G")
    api.send_text(GROUP, 7, "hello from a user")
    base = {"chat_id": str(GROUP)}
    _, sent = await call(
        http, api, "sendMessage", data={**base, "text": "card", "reply_markup": keyboard("a")}
    )
    mid = sent["result"]["message_id"]
    assert mid == 2  # ids are per chat and shared by users' and bot's messages

    async def edit(method: str, **fields: str) -> tuple[int, str | None]:
        status, body = await call(http, api, method, data={**base, **fields})
        return status, body.get("description")

    assert await edit(
        "editMessageText", message_id=str(mid), text="card", reply_markup=keyboard("a")
    ) == (400, NOT_MODIFIED)
    assert await edit("editMessageText", message_id=str(mid), text="card") == (200, None)
    assert await edit("editMessageText", message_id=str(mid), text="card") == (400, NOT_MODIFIED)
    assert await edit("editMessageReplyMarkup", message_id=str(mid)) == (400, NOT_MODIFIED)
    assert await edit(
        "editMessageReplyMarkup", message_id=str(mid), reply_markup=keyboard("b")
    ) == (200, None)
    assert api.buttons(GROUP, mid) == [("b", "b")]
    assert await edit("editMessageText", message_id="99", text="x") == (
        400,
        "Bad Request: message to edit not found",
    )
    assert await edit("editMessageText", message_id="1", text="x") == (
        400,
        "Bad Request: message can't be edited",
    )
    assert await edit("editMessageCaption", message_id=str(mid), caption="x") == (
        400,
        "Bad Request: there is no caption in the message to edit",
    )
    assert await edit(
        "editMessageText", message_id=str(mid), text="x", reply_markup=keyboard("d" * 65)
    ) == (400, BUTTON_DATA_INVALID)
    assert await edit(
        "editMessageText", message_id=str(mid), text="x", reply_markup=keyboard("é" * 32)
    ) == (200, None)
    assert await edit("deleteMessage", message_id=str(mid)) == (200, None)
    assert await edit("deleteMessage", message_id=str(mid)) == (
        400,
        "Bad Request: message to delete not found",
    )
    assert api.message(GROUP, mid)["deleted"] is True
    assert [m["message_id"] for m in api.messages(GROUP)] == [1]
    assert api.bot_messages(GROUP) == []


async def test_pins_need_the_right_to_pin(api: FakeBotAPI, bot: telegram.Bot) -> None:
    api.group(GROUP, "G")
    first = await bot.send_message(GROUP, "first")
    second = await bot.send_message(GROUP, "second")

    assert await bot.pin_chat_message(GROUP, first.message_id, disable_notification=True)
    assert await bot.pin_chat_message(GROUP, second.message_id)
    assert api.pinned[GROUP] == [first.message_id, second.message_id]
    assert api.calls("pinChatMessage")[0].params["disable_notification"] is True
    assert await bot.unpin_chat_message(GROUP, message_id=first.message_id)
    assert api.pinned[GROUP] == [second.message_id]
    assert await bot.unpin_chat_message(GROUP)  # the most recently pinned
    assert api.pinned[GROUP] == []
    with pytest.raises(BadRequest, match="Message to pin not found"):
        await bot.pin_chat_message(GROUP, 99)

    api.deny_pins(GROUP)
    with pytest.raises(BadRequest, match="Not enough rights to manage pinned messages"):
        await bot.pin_chat_message(GROUP, first.message_id)
    with pytest.raises(BadRequest, match="Not enough rights"):
        await bot.unpin_chat_message(GROUP, message_id=first.message_id)
    api.deny_pins(GROUP, denied=False)
    assert await bot.pin_chat_message(GROUP, first.message_id)
    api.group(-100600, "Not admin here", bot_admin=False)
    mine = await bot.send_message(-100600, "x")
    with pytest.raises(BadRequest, match="Not enough rights"):
        await bot.pin_chat_message(-100600, mine.message_id)
    api.kicked_chats.add(GROUP)
    with pytest.raises(Forbidden):
        await bot.pin_chat_message(GROUP, first.message_id)


async def test_length_and_html_validation(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    api.group(GROUP, "G")

    async def send(text: str, parse_mode: str | None = "HTML") -> tuple[int, str | None]:
        data = {"chat_id": str(GROUP), "text": text}
        if parse_mode:
            data["parse_mode"] = parse_mode
        status, body = await call(http, api, "sendMessage", data=data)
        return status, body.get("description")

    assert await send("<b>" + "x" * 4096 + "</b>") == (200, None)  # tags do not count
    assert await send("x" * 4097, None) == (400, "Bad Request: message is too long")
    assert await send("😀" * 2049, None) == (400, "Bad Request: message is too long")  # UTF-16
    assert await send("  ", None) == (400, "Bad Request: message text is empty")
    for bad in ("<foo>x</foo>", "<b>x", "<b>x</i>", "a < b", "fish & chips", "</b>"):
        status, description = await send(bad)
        assert status == 400 and description is not None
        assert description.startswith("Bad Request: can't parse entities: "), bad
    assert await send("a &lt; b &amp;&#33;&#x21; <a href='https://x.y/?a=1&amp;b=2'>l</a>") == (
        200,
        None,
    )
    assert api.bot_messages(GROUP)[-1]["text"] == "a < b &!! l"

    status, body = await call(
        http,
        api,
        "sendPhoto",
        data={"chat_id": str(GROUP), "photo": "file-1", "caption": "c" * 1025},
    )
    assert body["description"] == "Bad Request: message caption is too long"


def test_parse_html_entities() -> None:
    text, entities = parse_html(
        '😀 <b>bold <i>both</i></b> <a href="https://e.x">link</a> '
        '<span class="tg-spoiler">s</span> <pre><code class="language-py">x=1</code></pre>'
        " <blockquote expandable>q</blockquote>"
    )
    assert text == "😀 bold both link s x=1 q"
    assert entities == [
        {"offset": 3, "length": 9, "type": "bold"},
        {"offset": 8, "length": 4, "type": "italic"},
        {"offset": 13, "length": 4, "type": "text_link", "url": "https://e.x"},
        {"offset": 18, "length": 1, "type": "spoiler"},
        {"offset": 20, "length": 3, "type": "pre", "language": "py"},
        {"offset": 24, "length": 1, "type": "expandable_blockquote"},
    ]
    with pytest.raises(HtmlError, match='expected "</b>", found "</i>"'):
        parse_html("<b>x</i>")
    with pytest.raises(HtmlError, match='Tag "span" must have class'):
        parse_html("<span>x</span>")


# ----------------------------------------------------------------------------- updates


async def test_long_polling(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    _, body = await call(http, api, "getUpdates", data={"timeout": "0.2"})
    assert body["result"] == [] and time.monotonic() - started >= 0.18

    poll = asyncio.create_task(call(http, api, "getUpdates", data={"timeout": "5"}))
    await asyncio.sleep(0.05)
    message = api.send_text(GROUP, 1001, "/deal@groupbuy_test_bot Mangoes\nprice: 12")
    _, body = await asyncio.wait_for(poll, 1)
    [update] = body["result"]
    assert update["message"]["message_id"] == message["message_id"] == 1
    assert update["message"]["entities"] == [{"offset": 0, "length": 23, "type": "bot_command"}]

    second = api.push_update({"message": {**update["message"], "message_id": 2}}, duplicate=True)
    assert second == update["update_id"] + 1
    _, body = await call(http, api, "getUpdates", data={"offset": str(second), "limit": "1"})
    assert [u["update_id"] for u in body["result"]] == [second]
    # The redelivered copy outlives the confirmation, like a crash before the offset was saved.
    _, body = await call(http, api, "getUpdates", data={"offset": str(second + 1)})
    assert [u["update_id"] for u in body["result"]] == [second]
    _, body = await call(http, api, "getUpdates", data={"offset": str(second + 1)})
    assert body["result"] == []


async def test_parallel_polls_conflict_and_stop_is_prompt() -> None:
    api = FakeBotAPI()
    await api.start()
    # Two Bot instances, like two bot processes sharing a token (each has its own pool).
    async with (
        telegram.Bot(api.token, base_url=api.base_url) as first,
        telegram.Bot(api.token, base_url=api.base_url) as second,
    ):
        old = asyncio.create_task(first.get_updates(timeout=5, read_timeout=10))
        await asyncio.sleep(0.05)
        new = asyncio.create_task(second.get_updates(timeout=5, read_timeout=10))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await asyncio.wait_for(old, 1)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await api.stop()
        assert await asyncio.wait_for(new, 1) == ()
        assert time.monotonic() - started < 1


async def test_flood_models(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    api.group(GROUP, "G")
    api.flood(2, retry_after=7)
    status, body = await call(http, api, "answerCallbackQuery", data={"callback_query_id": "1"})
    assert status == 400  # not a flood method: only the real error
    for _ in range(2):
        status, body = await call(
            http, api, "sendMessage", data={"chat_id": str(GROUP), "text": "x"}
        )
        assert (status, body) == (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
        )
    api.limit_per_group_per_minute = 3
    statuses = []
    for _ in range(5):
        status, body = await call(
            http, api, "sendMessage", data={"chat_id": str(GROUP), "text": "x"}
        )
        statuses.append(status)
    assert statuses == [200, 200, 200, 429, 429]
    assert 59 <= body["parameters"]["retry_after"] <= 60


async def test_callback_answers_and_waiting(api: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    api.group(GROUP, "G")
    await call(
        http,
        api,
        "sendMessage",
        data={"chat_id": str(GROUP), "text": "card", "reply_markup": keyboard("v1:join:1")},
    )
    query = api.tap(GROUP, 5, 1, "v1:join:1")
    assert api.answers[query] == []
    waiting = asyncio.create_task(api.wait_answer(query))
    mark = len(api.requests)
    data = {"callback_query_id": query, "text": "ok", "show_alert": "true"}
    assert (await call(http, api, "answerCallbackQuery", data=data))[0] == 200
    assert await waiting == {"text": "ok", "show_alert": True}
    status, body = await call(http, api, "answerCallbackQuery", data=data)
    assert (status, body["description"]) == (400, QUERY_INVALID)
    assert len(api.answers[query]) == 2  # every attempt is recorded, only the first succeeded
    record = await api.wait_for("answerCallbackQuery", since=mark, where=lambda r: not r.ok)
    assert record.status == 400
    with pytest.raises(AssertionError, match="no sendMessage"):
        await api.wait_for("sendMessage", timeout=0.05, chat_id=GROUP)
    with pytest.raises(AssertionError, match="never answered"):
        await api.wait_answer(api.tap(GROUP, 5, 1, "v1:join:1"), timeout=0.05)
    assert await api.wait_until(lambda: len(api.answers) == 2, timeout=0.1)


async def test_many_concurrent_taps_are_each_answered_in_order(api: FakeBotAPI) -> None:
    api.group(GROUP, "G")
    request = HTTPXRequest(connection_pool_size=32)
    updates_request = HTTPXRequest(connection_pool_size=2, read_timeout=5)
    async with telegram.Bot(
        TOKEN, base_url=api.base_url, request=request, get_updates_request=updates_request
    ) as bot:
        await bot.send_message(GROUP, "card")
        queries = [api.tap(GROUP, 1000 + i, 1, f"v1:join:{i}") for i in range(200)]
        waiters = [asyncio.create_task(api.wait_answer(q)) for q in queries]
        updates = await bot.get_updates(timeout=1)
        assert len(updates) == 100  # the Bot API's maximum batch
        updates += await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
        assert [u.callback_query.id for u in updates] == queries
        await asyncio.gather(*(u.callback_query.answer(str(i)) for i, u in enumerate(updates)))
        answers = await asyncio.gather(*waiters)
        assert [a["text"] for a in answers] == [str(i) for i in range(200)]

    # How cheap the fake is under a burst is measured where timings belong: the flash-sale
    # benchmark prints the fake API's CPU next to the bot's.
    more = [api.tap(GROUP, 5000, 1, f"v1:join:{i}") for i in range(1000)]
    assert len(set(more)) == 1000, "every tap is a query of its own"


async def test_invoices_and_pre_checkout_follow_telegram(
    api: FakeBotAPI, bot: telegram.Bot
) -> None:
    user = api.user(3001, "Ann")
    api.started_users.add(3001)
    prices = [telegram.LabeledPrice("Box × 1", 1250)]
    args = {"title": "Box", "description": "d", "currency": "CNY", "prices": prices}
    sent = await bot.send_invoice(3001, payload="o1_x", provider_token="1:TEST:p", **args)
    assert sent.invoice is not None and sent.invoice.total_amount == 1250
    kept = api.invoices(3001)[0]
    assert kept["payload"] == "o1_x" and kept["prices"] == [{"label": "Box × 1", "amount": 1250}]
    with pytest.raises(BadRequest, match=r"(?i)invoice_payload_invalid"):
        await bot.send_invoice(3001, payload="x" * 129, provider_token="1:TEST:p", **args)
    with pytest.raises(BadRequest, match=r"(?i)photo_url"):
        await bot.send_invoice(
            3001, payload="o1_x", provider_token="1:TEST:p", photo_url="AgAC-file-id", **args
        )
    with pytest.raises(BadRequest, match=r"(?i)payment_provider_invalid"):
        await bot.send_invoice(3001, payload="o1_x", provider_token="", **args)

    query = api.pre_checkout(user["id"], "o1_x", "CNY", 1250)
    update = (await bot.get_updates())[-1]
    assert update.pre_checkout_query is not None
    assert update.pre_checkout_query.id == query
    with pytest.raises(BadRequest, match=r"(?i)error_message"):
        await bot.answer_pre_checkout_query(query, ok=False)
    assert await bot.answer_pre_checkout_query(query, ok=True)
    with pytest.raises(BadRequest):
        await bot.answer_pre_checkout_query(query, ok=True)  # once per query
    assert api.checkouts[query][1] == {"ok": True, "error_message": None}

    api.successful_payment(3001, "o1_x", "CNY", 1250, "c1")
    update = (await bot.get_updates(offset=update.update_id + 1))[-1]
    assert update.message is not None and update.message.successful_payment is not None
    assert update.message.successful_payment.telegram_payment_charge_id == "tg-c1"


async def test_inline_queries_are_answered_within_telegrams_rules(
    api: FakeBotAPI, bot: telegram.Bot, http: aiohttp.ClientSession
) -> None:
    api.user(1001, "Alice")
    query_id = api.inline_query(1001, "d42_sig")
    updates = await bot.get_updates(timeout=0)
    inline = updates[-1].inline_query
    assert inline is not None and inline.id == query_id and inline.query == "d42_sig"
    assert inline.from_user.id == 1001

    async def answer(results: list[dict[str, Any]], **more: str) -> tuple[int, str | None]:
        data = {"inline_query_id": query_id, "results": json.dumps(results), **more}
        status, body = await call(http, api, "answerInlineQuery", data=data)
        return status, body.get("description")

    def article(result_id: str, text: str = "card", data: str = "v1:join:1") -> dict[str, Any]:
        return {
            "type": "article",
            "id": result_id,
            "title": "Mangoes",
            "input_message_content": {"message_text": text, "parse_mode": "HTML"},
            "reply_markup": {"inline_keyboard": [[{"text": "Join", "callback_data": data}]]},
        }

    assert (await answer([article(str(i)) for i in range(51)]))[1] == RESULTS_TOO_MUCH
    assert (await answer([article("x" * 65)]))[1] == RESULT_ID_INVALID
    assert (await answer([article("a"), article("a")]))[1] == RESULT_ID_DUPLICATE
    assert (await answer([article("a")], next_offset="9" * 65))[1] == NEXT_OFFSET_INVALID
    assert (await answer([article("a", data="d" * 65)]))[1] == BUTTON_DATA_INVALID
    assert (await answer([article("a", text="x" * 4097)]))[1] == "Bad Request: message is too long"
    photo = {"type": "photo", "id": "p", "photo_file_id": "f1", "caption": "c" * 1025}
    assert (await answer([photo]))[1] == "Bad Request: message caption is too long"
    assert api.inline_answers[query_id] == []  # refused answers are not kept

    assert await answer([article("a", text="<b>Mangoes</b>")], next_offset="50") == (200, None)
    assert (await answer([article("a")]))[1] == QUERY_INVALID  # one answer per query
    answered = await api.wait_inline_answer(query_id)
    assert answered["next_offset"] == "50" and answered["results"][0]["id"] == "a"
    assert (await call(http, api, "answerInlineQuery", data={"inline_query_id": "7"}))[0] == 400


async def test_a_chosen_result_lives_in_a_chat_without_the_bot(
    api: FakeBotAPI, bot: telegram.Bot
) -> None:
    api.user(1001, "Alice")
    api.user(1002, "Bob")
    elsewhere = -100777
    api.chat_without_bot(elsewhere, "Friends")
    query_id = api.inline_query(1001, "")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Join", callback_data="v1:join:1")]])
    await bot.answer_inline_query(
        query_id,
        [
            telegram.InlineQueryResultArticle(
                "deal-1",
                "Mangoes",
                telegram.InputTextMessageContent("<b>Mangoes</b>", parse_mode="HTML"),
                reply_markup=markup,
            ),
            telegram.InlineQueryResultArticle(
                "plain", "Plain", telegram.InputTextMessageContent("no buttons")
            ),
        ],
        is_personal=True,
        cache_time=5,
    )
    message, inline_id = api.choose_inline_result(1001, query_id, "deal-1", elsewhere)
    assert inline_id is not None and message["via_bot"]["id"] == api.bot_id
    assert message["from"]["id"] == 1001 and message["text"] == "Mangoes"
    assert api.inline_text(inline_id) == "Mangoes"
    assert api.inline_buttons(inline_id) == [("Join", "v1:join:1")]
    with pytest.raises(Forbidden, match="not a member"):
        await bot.send_message(elsewhere, "the bot cannot write here")

    api.inline_feedback = False
    _, no_keyboard = api.choose_inline_result(1002, query_id, "plain", elsewhere)
    assert no_keyboard is None

    tap_id = api.tap_inline(1002, inline_id, "v1:join:1")
    updates = await bot.get_updates(timeout=0)
    chosen = [u.chosen_inline_result for u in updates if u.chosen_inline_result]
    assert [(c.result_id, c.from_user.id, c.inline_message_id) for c in chosen] == [
        ("deal-1", 1001, inline_id)
    ]  # the second choice came with feedback off: no update
    tap = updates[-1].callback_query
    assert tap is not None and tap.id == tap_id and tap.message is None
    assert tap.inline_message_id == inline_id and tap.data == "v1:join:1"

    assert (
        await bot.edit_message_text(
            "<b>Mangoes</b> 1 joined", inline_message_id=inline_id, parse_mode="HTML"
        )
        is True
    )
    assert api.inline_text(inline_id) == "Mangoes 1 joined"
    assert api.inline_buttons(inline_id) == []  # an edit without a keyboard removes it
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>Mangoes</b> 1 joined", inline_message_id=inline_id, parse_mode="HTML"
        )
    with pytest.raises(BadRequest, match="no caption"):
        await bot.edit_message_caption(inline_message_id=inline_id, caption="x")
    assert await bot.edit_message_reply_markup(inline_message_id=inline_id, reply_markup=markup)
    assert api.inline_buttons(inline_id) == [("Join", "v1:join:1")]
    with pytest.raises(BadRequest, match=r"(?i)message_id_invalid"):
        await bot.edit_message_text("x", inline_message_id="AgAAAunknown")


async def test_a_chosen_photo_result_is_edited_by_its_caption(
    api: FakeBotAPI, bot: telegram.Bot
) -> None:
    api.user(1001, "Alice")
    query_id = api.inline_query(1001, "")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Join", callback_data="v1:join:1")]])
    await bot.answer_inline_query(
        query_id,
        [
            telegram.InlineQueryResultCachedPhoto(
                "deal-1",
                "fake-photo-9",
                caption="<b>Figs</b>",
                parse_mode="HTML",
                reply_markup=markup,
            )
        ],
    )
    message, inline_id = api.choose_inline_result(1001, query_id, "deal-1", 1001)
    assert inline_id is not None and message["caption"] == "Figs"
    assert message["photo"][-1]["file_id"] == "fake-photo-9"
    assert await bot.edit_message_caption(inline_message_id=inline_id, caption="Figs, 2 joined")
    assert api.inline_text(inline_id) == "Figs, 2 joined"
    with pytest.raises(BadRequest, match="no text"):
        await bot.edit_message_text("x", inline_message_id=inline_id)
