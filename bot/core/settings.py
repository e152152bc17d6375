"""Group settings as leaders type them: which keys exist and what each accepts."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core import currency, referrals, summary
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
)
# The common changes, offered as buttons under /settings: (key, value) by row.
QUICK: tuple[tuple[tuple[str, str], ...], ...] = (
    (("lang", "en"), ("lang", "zh-Hans"), ("lang", "zh-Hant"), ("lang", "ru")),
    (("summary", "21:00"), ("summary", "off")),
    (("levels", "1"), ("levels", "2"), ("levels", "3")),
)
QUICK_FLAT = tuple(choice for row in QUICK for choice in row)
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
}
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_SWITCH = {"on": True, "off": False, "开": True, "关": False, "开启": True, "关闭": False}


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
        privacy = {"names": "names", "counts": "counts", "名字": "names", "人数": "counts"}
        if value.lower() not in privacy:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"privacy": privacy[value.lower()]}
    if key == "pin":
        if value.lower() not in _SWITCH:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        # Turned on (again), the leaders are told anew if the bot may not pin.
        return {"pin": 1, "pin_warned": 0} if _SWITCH[value.lower()] else {"pin": 0}
    if key == "pay":
        pay = {
            "invoice": "invoice",
            "off": "off",
            "发票": "invoice",
            "账单": "invoice",
            "关": "off",
        }
        if value.lower() not in pay:
            raise UserError("settings_bad_value", key=key, value=value[:40])
        return {"pay": pay[value.lower()]}
    raise UserError("settings_bad_key", key=key[:40])


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
