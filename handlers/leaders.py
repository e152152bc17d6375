"""Leader tools: /summary, /export, /paid, /collected, and the mark buttons."""

from __future__ import annotations

import logging
import re

from telegram import Message, Update, User

from bot.core import callbacks, currency, summary
from bot.core.errors import UserError
from bot.core.forms import parse_options
from bot.core.models import Deal, Group, OrderRow
from bot.core.summary import GroupDay
from handlers import marks
from handlers.access import groups_asked, leaders_anywhere
from handlers.common import (
    Context,
    in_group,
    member_named,
    member_of,
    number,
    reply,
    speaks,
    told_privately,
)

log = logging.getLogger(__name__)

# "undo" after a mark, as each language says it.
UNDO_WORDS = ("undo", "撤销", "撤銷", "取消", "復原", "отмена", "отменить")


async def _one_argument_for_leaders(
    update: Update, context: Context, usage: str
) -> tuple[User, list[str], list[Group]] | None:
    """The sender, at most one argument, and the groups they lead; else the refusal."""
    user = update.effective_user
    if user is None:
        return None
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, usage)
        return None
    groups = await groups_asked(update, context)
    return None if groups is None else (user, args, groups)


async def summary_command(update: Update, context: Context) -> None:
    """/summary [today|yesterday|YYYY-MM-DD]: the day's summary, sent privately."""
    asked = await _one_argument_for_leaders(update, context, "summary_usage")
    if asked is None:
        return
    user, args, groups = asked
    days = await _days_asked(update, context, groups, args[0] if args else None)
    if days is None:
        return
    delivered = True
    for group_day in days:
        delivered = await context.reports.send_summary(member_of(user), group_day) and delivered
    await told_privately(update, context, delivered)


async def _deal_of(
    update: Update, context: Context, deal_id: int, groups: list[Group]
) -> Deal | None:
    """The deal if one of these groups (those the sender leads) has it; else the answer
    that there is no such deal, and None."""
    try:
        return await context.service.deal_in_groups(deal_id, {g.chat_id for g in groups})
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return None


async def _days_asked(
    update: Update, context: Context, groups: list[Group], word: str | None
) -> list[GroupDay] | None:
    """Each group's day that `word` names (in its own time zone); else the answer why not."""
    days = []
    for group in groups:
        try:
            day = summary.parse_day(word, context.reports.today(group))
        except UserError as error:
            await reply(update, context, error.template, **error.context)
            return None
        days.append(await context.reports.day_of(group, day))
    return days


async def export_command(update: Update, context: Context) -> None:
    """/export [date|deal]: orders as a CSV document, sent privately."""
    asked = await _one_argument_for_leaders(update, context, "export_usage")
    if asked is None:
        return
    user, args, groups = asked
    leader_reports = context.reports
    deal_number = number(args[0]) if args else None
    if deal_number is not None:
        deal = await _deal_of(update, context, deal_number, groups)
        if deal is None:
            return
        rows = await leader_reports.orders_of_deal(deal.id)
        name = f"orders-deal-{deal.id}.csv"
    else:
        days = await _days_asked(update, context, groups, args[0] if args else None)
        if days is None:
            return
        rows = [row for group_day in days for row in group_day.all_rows]
        name = f"orders-{days[0].day}.csv"
    lang = await speaks(context, user)
    delivered = await leader_reports.send_export(user.id, rows, groups[0].tz, name, lang)
    await told_privately(update, context, delivered)


async def paid_command(update: Update, context: Context) -> None:
    """/paid <order> | <deal> <member> | <member> [undo]: mark orders paid (or undo it)."""
    await _mark_command(update, context, "paid")


async def collected_command(update: Update, context: Context) -> None:
    """/collected <order> | <code> | <deal> <member> | <member> [undo]: mark collected."""
    await _mark_command(update, context, "collected")


async def _mark_command(update: Update, context: Context, mark: str) -> None:
    user = update.effective_user
    if user is None:
        return
    args = list(context.args or [])
    undo = bool(args) and args[-1].lower() in UNDO_WORDS
    if undo:
        args.pop()
    leader_reports = context.reports
    rows: list[OrderRow] = []
    if len(args) == 1 and number(args[0]) is None and CODE.fullmatch(args[0].upper()):
        found = await leader_reports.order_by_code(args[0])
        if found is None:  # or a name of five letters and digits: Alice, bob42
            await marks.mark_by_name(update, context, mark, args[0], undo, nobody="code_not_found")
            return
        rows = [found]
    elif len(args) == 1 and (order_id := number(args[0])) is not None:
        row = await leader_reports.order(order_id)
        rows = [row] if row is not None else []
        if row is None:
            await reply(update, context, "order_not_found", order_id=order_id)
            return
    elif (
        len(args) == 2
        and (deal_id := number(args[0])) is not None
        and (who := member_named(args[1])) is not None
    ):
        rows = await leader_reports.member_orders_in_deal(deal_id, who)
        if not rows:
            await reply(update, context, "member_orders_not_found", deal_id=deal_id, who=args[1])
            return
    elif (typed := marks.name_typed(args)) is not None:
        await marks.mark_by_name(update, context, mark, typed, undo)
        return
    else:
        await reply(update, context, "mark_usage", command=mark)
        return
    chat = update.effective_chat
    for row in rows:
        if in_group(chat) and chat is not None and row.deal.chat_id != chat.id:
            await reply(update, context, "order_not_found", order_id=row.order.id)
            return
        if not await context.reports.may_mark(user.id, row):
            await reply(update, context, "not_leader")
            return
    changed = await context.reports.mark(rows, mark, not undo, user.id)
    await reply(update, context, "marked", mark=mark, undo=undo, changed=changed, total=len(rows))


CODE = re.compile(r"[A-Z0-9]{5}")


async def mark_tap(update: Update, context: Context) -> None:
    """A paid/collected button on a summary's mark panel: set or clear the mark the button
    names, redraw the panel. A button from before buttons named it only redraws."""
    query = update.callback_query
    if query is None:
        return
    groupbuy = context.service
    lang = await speaks(context, query.from_user)
    tap = callbacks.decode(query.data)
    row = await context.reports.order(tap.target) if tap else None
    if tap is None or row is None:
        await query.answer(groupbuy.texts.render("tap_stale", lang))
        return
    if not await context.reports.may_mark(query.from_user.id, row):
        await query.answer(groupbuy.texts.render("tap_not_leader", lang))
        return
    mark = "paid" if tap.action is callbacks.Action.PAID else "collected"
    value = callbacks.marks_to(tap)
    if value is None:  # a toggle would flip back when Telegram delivers the tap again
        await query.answer(groupbuy.texts.render("tap_mark_redrawn", lang))
    else:
        await context.reports.mark([row], mark, value, query.from_user.id)
        text = groupbuy.texts.render("tap_marked", lang, row=row, mark=mark, value=value)
        await query.answer(text)
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return
    order_ids = []
    for line in message.reply_markup.inline_keyboard:
        decoded = callbacks.decode(str(line[0].callback_data)) if line else None
        if decoded is not None:
            order_ids.append(decoded.target)
    rows = await context.reports.rows_of_panel(row.deal.id, order_ids)
    _, markup = context.reports.mark_panel(row.deal, rows, lang)
    await message.edit_reply_markup(reply_markup=markup)


@leaders_anywhere
async def restock_command(update: Update, context: Context, groups: list[Group]) -> None:
    """/restock <deal> <units> [option]: more stock; the waitlist is offered it first."""
    args = context.args or []
    deal_id = number(args[0]) if args else None
    units = number(args[1]) if len(args) > 1 else None
    if deal_id is None or units is None or units > 1_000_000:
        await reply(update, context, "restock_usage")
        return
    groupbuy = context.service
    deal = await _deal_of(update, context, deal_id, groups)
    if deal is None:
        return
    if deal.status != "open":
        await reply(update, context, "deal_not_open", deal=deal)
        return
    option_id = None
    if len(args) > 2:
        wanted = " ".join(args[2:]).casefold()
        view = await groupbuy.view(deal.id)
        option = (
            next((o for o in view.options if o.name.casefold() == wanted), None) if view else None
        )
        if option is None:
            await reply(update, context, "restock_usage")
            return
        option_id = option.id
    offers = await groupbuy.waitlist.restock(deal, units, option_id)
    await reply(update, context, "restock_done", deal=deal, units=units, offers=offers)


@leaders_anywhere
async def options_command(update: Update, context: Context, groups: list[Group]) -> None:
    """/options <deal> <options>: change a deal's options while nobody has ordered."""
    message = update.effective_message
    if message is None:
        return
    args = context.args or []
    deal_id = number(args[0]) if args else None
    if deal_id is None or len(args) < 2:
        await reply(update, context, "options_usage")
        return
    groupbuy = context.service
    deal = await _deal_of(update, context, deal_id, groups)
    if deal is None:
        return
    group = next(g for g in groups if g.chat_id == deal.chat_id)
    text = (message.text or "").split(None, 2)[2]
    try:
        options = parse_options(text, currency.digits(group.currency))
        await groupbuy.change_options(deal, options)
    except UserError as error:
        await reply(update, context, error.template, **error.context)
        return
    await reply(update, context, "options_done", deal=deal)
