"""/settings: a leader reads or changes the group's settings, by command or by button."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.core import callbacks
from bot.core.errors import UserError
from bot.core.models import Group
from bot.core.settings import (
    MAX_PAY_NOTE,
    PAY_NOTE_WORDS,
    QUICK,
    QUICK_FLAT,
    canonical_key,
    is_current,
    parse_pay_note,
    parse_pickups,
    parse_setting,
)
from bot.texts import split_message
from handlers.access import GroupTap, leaders_only, leaders_tap
from handlers.common import Context, command_body, member_of, reply

log = logging.getLogger(__name__)

# /settings leaders add|remove, as each language says it.
_ADD = ("add", "添加", "新增", "добавить")
_REMOVE = ("remove", "删除", "刪除", "移除", "удалить")


@leaders_only
async def settings_command(update: Update, context: Context, group: Group) -> None:
    """/settings [key value]: show the settings (with buttons), or change one."""
    message = update.effective_message
    if message is None:
        return
    if command_body(message, context.bot.username) is None:
        return  # a photo captioned for another bot
    text = message.text or message.caption or ""  # a photo's caption: /settings pay
    args = text.split()[1:]
    if not args:
        await _show(message, context, group)
        return
    key = canonical_key(args[0])
    if key == "pay":
        await _pay(update, context, group, text.split(None, 2)[2] if len(args) > 1 else "")
        return
    if key == "leaders":
        await _leaders(update, context, group, args[1:])
        return
    if key is None or len(args) < 2:
        await reply(update, context, "settings_usage", group=group)
        return
    if key == "pickup":
        text = (message.text or "").split(None, 2)[2]
        try:
            names = parse_pickups(text)
        except UserError as error:
            await reply(update, context, error.template, **error.context)
            return
        await context.service.groups.set_pickup_points(group.chat_id, names)
        log.info("pickup points chat=%s %s", group.chat_id, names)
        await _show(message, context, group, changed=key)
        return
    try:
        changes = parse_setting(key, " ".join(args[1:]), group)
        group = await context.service.groups.change(group.chat_id, **changes)
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return
    log.info("settings chat=%s %s", group.chat_id, changes)
    await _show(message, context, group, changed=key)


async def _pay(update: Update, context: Context, group: Group, value: str) -> None:
    """/settings pay invoice|off|note <instructions>; with a photo (its caption, or the
    message it replies to) the photo becomes the group's payment QR code, and any text
    after "pay" its instructions."""
    message = update.effective_message
    assert message is not None
    replied = message.reply_to_message
    photo = message.photo or (replied.photo if replied else None)
    try:
        if photo and not _pay_mode(value, group):
            changes: dict[str, str | None] = {"pay_qr": photo[-1].file_id}
            if value.strip():
                word, *rest = value.split(None, 1)
                note = " ".join(rest) if word.lower() in PAY_NOTE_WORDS else value
                changes["pay_note"] = parse_pay_note(note)
        elif not value.strip():
            await reply(update, context, "settings_pay_note_usage", max=MAX_PAY_NOTE)
            return
        else:
            changes = parse_setting("pay", value, group)
        group = await context.service.groups.change(group.chat_id, **changes)
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return
    log.info("settings chat=%s pay=%s", group.chat_id, sorted(changes))
    await _show(message, context, group, changed="pay")


def _pay_mode(value: str, group: Group) -> bool:
    """Whether `value` names a way to collect (invoice, off …) rather than instructions:
    then a photo it comes with (or replies to) is not a QR code."""
    try:
        return "pay" in parse_setting("pay", value, group)
    except UserError:
        return False


async def _show(message: Message, context: Context, group: Group, changed: str = "") -> None:
    groupbuy = context.service
    leaders, pickups = await groupbuy.groups.leaders_and_pickups(group.chat_id)
    text = groupbuy.texts.render(
        "settings", group.lang, group=group, changed=changed, leaders=leaders, pickups=pickups
    )
    await groupbuy.notify.send_text(message.chat.id, text, _buttons(context, group))


def _buttons(context: Context, group: Group) -> InlineKeyboardMarkup:
    texts = context.service.texts
    rows = []
    for row in QUICK:
        rows.append(
            [
                InlineKeyboardButton(
                    texts.render(
                        "button_setting",
                        group.lang,
                        key=key,
                        value=value,
                        current=is_current(group, key, value),
                    ),
                    callback_data=callbacks.SETTINGS.data(
                        callbacks.Action.SETTING, QUICK_FLAT.index((key, value)) + 1
                    ),
                )
                for key, value in row
            ]
        )
    return InlineKeyboardMarkup(rows)


def _quick_choice(tap: callbacks.Tap) -> bool:
    return 1 <= tap.target <= len(QUICK_FLAT)


@leaders_tap(readable=_quick_choice)
async def setting_tap(update: Update, context: Context, tapped: GroupTap) -> None:
    """A quick-choice button under /settings: leaders only."""
    query, message = tapped.query, tapped.message
    groupbuy = context.service
    key, value = QUICK_FLAT[tapped.tap.target - 1]
    group = await groupbuy.groups.group(message.chat.id, message.chat.title)
    group = await groupbuy.groups.change(group.chat_id, **parse_setting(key, value, group))
    log.info("settings chat=%s %s=%s by=%s", group.chat_id, key, value, query.from_user.id)
    await query.answer(groupbuy.texts.render("tap_setting", group.lang, key=key, value=value))
    leaders, pickups = await groupbuy.groups.leaders_and_pickups(group.chat_id)
    text = groupbuy.texts.render(
        "settings", group.lang, group=group, changed=key, leaders=leaders, pickups=pickups
    )
    try:
        # The buttons sit under the last part of a settings text cut in several.
        await message.edit_text(split_message(text)[-1], reply_markup=_buttons(context, group))
    except BadRequest as exc:
        log.debug("settings message not edited: %s", exc)


async def _leaders(update: Update, context: Context, group: Group, args: list[str]) -> None:
    """/settings leaders [add|remove] [@user | user id] (or as a reply to the person)."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    groupbuy = context.service
    action = args[0].lower() if args else ""
    if action not in (*_ADD, *_REMOVE):
        await reply(update, context, "settings_leaders_usage")
        return
    target = None
    if len(args) >= 2:
        target = await groupbuy.groups.find_member(args[1])
    elif message.reply_to_message and message.reply_to_message.from_user:
        target = member_of(message.reply_to_message.from_user)
    if target is None:
        await reply(update, context, "member_not_found", who=args[1] if len(args) > 1 else "?")
        return
    adding = action in _ADD
    changed = await groupbuy.groups.name_leader(group.chat_id, target, adding, user.id)
    log.info(
        "leader chat=%s member=%s add=%s by=%s", group.chat_id, target.user_id, adding, user.id
    )
    await reply(
        update, context, "settings_leader_done", member=target, adding=adding, changed=changed
    )
