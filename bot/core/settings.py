"""Group settings as leaders type them: which keys exist and what each accepts."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core import currency, paywindow, referrals, summary
from bot.core.errors import UserError
from bot.core.forms import MAX_PICKUPS
from bot.core.languages import parse_language
from bot.core.models import Group

KEYS = (
    "lang",
    "tz",
    "currency",
    "summary",
    "reward",
    "levels",
    "privacy",
    "pin",
    "pickup",
    "leaders",
    "pay",
    "paywithin",
)
# The common changes, offered as buttons under /settings: (key, value) by row.
QUICK: tuple[tuple[tuple[str, str], ...], ...] = (
    (("lang", "en"), ("lang", "zh-Hans"), ("lang", "zh-Hant"), ("lang", "ru")),
    (("summary", "21:00"), ("summary", "off")),
    (("levels", "1"), ("levels", "2"), ("levels", "3")),
)
# A button's data holds its choice's place here: append only, so that the buttons under an
# old /settings message keep their meaning ("zh" was the second; 繁體 and Русский came later).
QUICK_FLAT = (
    ("lang", "en"),
    ("lang", "zh-Hans"),
    ("summary", "21:00"),
    ("summary", "off"),
    ("levels", "1"),
    ("levels", "2"),
    ("levels", "3"),
    ("lang", "zh-Hant"),
    ("lang", "ru"),
)
_ALIASES = {
    "language": "lang",
    "语言": "lang",
    "語言": "lang",
    "язык": "lang",
    "timezone": "tz",
    "时区": "tz",
    "货币": "currency",
    "币种": "currency",
    "汇总": "summary",
    "奖励": "reward",
    "返利": "reward",
    "层级": "levels",
    "level": "levels",
    "leader": "leaders",
    "隐私": "privacy",
    "置顶": "pin",
    "pickups": "pickup",
    "取货点": "pickup",
    "自提点": "pickup",
    "团长": "leaders",
    "付款": "pay",
    "支付": "pay",
    "payment": "pay",
    "payments": "pay",
    # 繁體
    "時區": "tz",
    "貨幣": "currency",
    "幣別": "currency",
    "匯總": "summary",
    "獎勵": "reward",
    "回饋": "reward",
    "層級": "levels",
    "隱私": "privacy",
    "置頂": "pin",
    "取貨點": "pickup",
    "自取點": "pickup",
    "團長": "leaders",
    "支付方式": "pay",
    # Русский
    "пояс": "tz",
    "валюта": "currency",
    "сводка": "summary",
    "бонус": "reward",
    "награда": "reward",
    "уровни": "levels",
    "приватность": "privacy",
    "закреп": "pin",
    "выдача": "pickup",
    "организаторы": "leaders",
    "оплата": "pay",
    # the payment window
    "pay_within": "paywithin",
    "付款期限": "paywithin",
    "付款时限": "paywithin",
    "付款時限": "paywithin",
    "срок_оплаты": "paywithin",
}
# /settings pay note <instructions>: the word before the instructions, in each language.
PAY_NOTE_WORDS = ("note", "说明", "說明", "текст")
MAX_PAY_NOTE = 300  # the instructions ride with every confirmation, under the order
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_SWITCH = {
    **{word: True for word in ("on", "开", "开启", "開", "開啟", "вкл", "да")},
    **{word: False for word in ("off", "关", "关闭", "關", "關閉", "выкл", "нет")},
}


def canonical_key(text: str) -> str | None:
    """The setting a typed key names, or None."""
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in KEYS else None


def parse_setting(key: str, value: str, group: Group) -> dict[str, Any]:
    """The group columns to change for `/settings key value`; UserError says what is allowed."""
    value = value.strip()
    if key == "lang":
        lang = parse_language(value)
        if lang is None:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"lang": lang}
    if key == "tz":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError("settings_bad_value", key=key, value=value[:40]) from None
        return {"tz": value}
    if key == "currency":
        if not _CURRENCY.match(value):
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"currency": value.upper()}
    if key == "summary":
        try:
            return {"summary_time": summary.parse_summary_time(value)}
        except UserError:
            raise UserError("settings_bad_value", key=key, value=value[:40]) from None
    if key == "reward":
        try:
            rule = referrals.parse_reward(value, currency.digits(group.currency))
        except ValueError:
            raise UserError("settings_bad_value", key=key, value=value[:40]) from None
        return {"reward_kind": rule.kind, "reward_value": rule.value}
    if key == "levels":
        if value not in ("1", "2", "3"):
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"levels": int(value)}
    if key == "privacy":
        privacy = {
            **{word: "names" for word in ("names", "名字", "имена")},
            **{word: "counts" for word in ("counts", "人数", "人數", "число")},
        }
        if value.lower() not in privacy:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"privacy": privacy[value.lower()]}
    if key == "pin":
        if value.lower() not in _SWITCH:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        # Turned on (again), the leaders are told anew if the bot may not pin.
        return {"pin": 1, "pin_warned": 0} if _SWITCH[value.lower()] else {"pin": 0}
    if key == "pay":
        word, *rest = value.split(None, 1) or [""]
        if word.lower() in PAY_NOTE_WORDS:
            return {"pay_note": parse_pay_note(" ".join(rest))}
        pay = {
            "invoice": "invoice",
            "off": "off",
            "发票": "invoice",
            "账单": "invoice",
            "帳單": "invoice",
            "счёт": "invoice",
            "счет": "invoice",
            **{word: "off" for word, on in _SWITCH.items() if not on},
        }
        if value.lower() not in pay:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        if pay[value.lower()] == "off":  # back to "I've paid" alone: no instructions, no QR
            return {"pay": "off", "pay_note": None, "pay_qr": None}
        return {"pay": pay[value.lower()]}
    if key == "paywithin":
        if _SWITCH.get(value.lower()) is False:
            return {"pay_within": 0}
        try:
            return {"pay_within": paywindow.parse_window(value)}
        except ValueError:
            raise UserError("settings_bad_value", key=key, value=value[:40]) from None
    raise UserError("settings_bad_key", key=key[:40])


def parse_pay_note(text: str) -> str:
    """Payment instructions as a leader typed them (/settings pay note …), trimmed; a
    UserError when empty or longer than MAX_PAY_NOTE characters."""
    note = text.strip()
    if not note or len(note) > MAX_PAY_NOTE:
        raise UserError("settings_pay_note_usage", max=MAX_PAY_NOTE)
    return note


def is_current(group: Group, key: str, value: str) -> bool:
    """Whether a quick choice is the group's current setting (its button shows a tick)."""
    if key == "lang":
        return group.lang == value
    if key == "summary":
        return (group.summary_time or "off") == value
    if key == "levels":
        return str(group.levels) == value
    return False


def parse_pickups(value: str) -> list[str]:
    """`Clubhouse; North gate` → the names, or UserError for none or too many or too long."""
    names = list(dict.fromkeys(n.strip() for n in re.split(r"[;；]", value) if n.strip()))
    if not names or len(names) > MAX_PICKUPS or any(len(n) > 60 for n in names):
        raise UserError("settings_bad_value", key="pickup", value=value[:40])
    return names
