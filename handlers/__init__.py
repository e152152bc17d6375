"""Telegram handlers, thin: read the update, call the service, reply from a template."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ChosenInlineResultHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot.core import callbacks
from handlers import (
    deals,
    errors,
    inline,
    language,
    leaders,
    limits,
    marks,
    orders,
    payments,
    privacy,
    referrals,
    settings,
    spread,
    start,
    updates,
)
from handlers.common import Context

Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]


def command(name: str, callback: Callback) -> CommandHandler:  # type: ignore[type-arg]
    """A command from a new message; an edited message must not post or close twice."""
    return CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE)


class FirstDelivery(TypeHandler):  # type: ignore[type-arg]
    """Every update but a tap goes through the redelivery check; a tap is claimed inside
    its own write, and skipping the check here spares each tap of a flash sale a call.
    An inline query (one per keystroke) changes nothing: answered twice, it is harmless."""

    def check_update(self, update: object) -> bool:
        """Whether the update is one to check: anything but a callback or inline query."""
        return (
            isinstance(update, Update)
            and update.callback_query is None
            and update.inline_query is None
        )


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Add every handler, in the order that matters."""
    # A photo whose caption carries /deal is not a command to PTB (CommandHandler reads
    # message text only), so it gets its own handler.
    deal_caption = (
        filters.UpdateType.MESSAGE & filters.PHOTO & filters.CaptionRegex(r"^/deal(@\w+)?(\s|$)")
    )
    # Likewise a photo captioned /settings pay: the group's payment QR code.
    settings_caption = (
        filters.UpdateType.MESSAGE & filters.PHOTO & filters.CaptionRegex(r"^/settings(@\w+)?\s")
    )
    # Group -2 runs first: a command or a tap beyond its budget stops there, costing
    # neither the store nor a leader check. Group -1 next: a redelivered update stops there.
    app.add_handler(TypeHandler(Update, limits.enforce), group=-2)
    app.add_handler(FirstDelivery(Update, updates.claim), group=-1)
    app.add_handlers(
        [
            # Taps first: in a rush they are nearly every update, and no other handler
            # takes a callback query. Each kind of button (bot/core/callbacks.py) routes its
            # own taps; the deal kind's handler is the catch-all that answers the rest.
            CallbackQueryHandler(leaders.mark_tap, pattern=callbacks.MARKS.matches),
            CallbackQueryHandler(settings.setting_tap, pattern=callbacks.SETTINGS.matches),
            CallbackQueryHandler(payments.payment_tap, pattern=callbacks.PAYMENTS.matches),
            CallbackQueryHandler(privacy.forget_tap, pattern=callbacks.FORGET.matches),
            CallbackQueryHandler(marks.named_mark_tap, pattern=callbacks.NAMED_MARKS.matches),
            CallbackQueryHandler(deals.tap),
            InlineQueryHandler(inline.inline_query),
            ChosenInlineResultHandler(inline.chosen_result),
            PreCheckoutQueryHandler(payments.pre_checkout),
            MessageHandler(filters.SUCCESSFUL_PAYMENT, payments.successful_payment),
            command("start", start.start),
            command("help", start.help_command),
            command("deal", deals.post_deal),
            MessageHandler(deal_caption, deals.post_deal),
            MessageHandler(settings_caption, settings.settings_command),
            command("repost", deals.repost_deal),
            command("share", spread.share_command),
            command("helpsell", spread.helpsell_command),
            command("deals", deals.list_deals),
            command("close", deals.close_deal),
            command("cancel", deals.cancel_deal),
            command("orders", orders.orders_command),
            command("summary", leaders.summary_command),
            command("export", leaders.export_command),
            command("paid", leaders.paid_command),
            command("collected", leaders.collected_command),
            command("unpaid", payments.unpaid_command),
            command("refunds", payments.refunds_command),
            command("restock", leaders.restock_command),
            command("options", leaders.options_command),
            command("invite", referrals.invite_command),
            command("rewards", referrals.rewards_command),
            command("top", referrals.top_command),
            command("payout", referrals.payout_command),
            command("settings", settings.settings_command),
            command("forgetme", privacy.forgetme_command),
            command("lang", language.lang_command),
            ChatMemberHandler(referrals.member_update, ChatMemberHandler.CHAT_MEMBER),
            MessageHandler(filters.StatusUpdate.NEW_CHAT_MEMBERS, referrals.members_added),
            MessageHandler(filters.StatusUpdate.MIGRATE, updates.migrated),
            ChatMemberHandler(updates.bot_membership, ChatMemberHandler.MY_CHAT_MEMBER),
        ]
    )
    app.add_error_handler(errors.on_error)
