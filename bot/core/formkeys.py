"""The deal form's keys in each language: what a leader may type for each field."""

from __future__ import annotations

# Each field's key in 简体, 繁體 and Русский, beside its English name (everyone's).
KEYS_BY_LANGUAGE: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-Hans": {
        "price": ("价格", "单价"),
        "min": ("成团", "成团人数", "人数"),
        "deadline": ("截止", "截止时间"),
        "start": ("开始", "开始时间", "开抢"),
        "stock": ("库存",),
        "limit": ("限购",),
        "mode": ("模式",),
        "note": ("备注", "取货"),
        "description": ("描述", "说明"),
        "options": ("规格", "选项"),
        "pickup": ("取货点", "自提点"),
        "groups": ("群组", "发到"),
    },
    "zh-Hant": {
        "price": ("價格", "單價"),
        "min": ("成團", "成團人數", "人數"),
        "deadline": ("截止", "截止時間"),
        "start": ("開始", "開始時間", "開搶"),
        "stock": ("庫存",),
        "limit": ("限購",),
        "mode": ("模式",),
        "note": ("備註", "取貨"),
        "description": ("描述", "說明"),
        "options": ("規格", "選項"),
        "pickup": ("取貨點", "自取點", "自提點"),
        "groups": ("群組", "發到"),
    },
    "ru": {
        "price": ("цена",),
        "min": ("минимум", "мин"),
        "deadline": ("срок", "до"),
        "start": ("старт", "начало"),
        "stock": ("остаток", "запас"),
        "limit": ("лимит",),
        "mode": ("режим",),
        "note": ("примечание", "заметка"),
        "description": ("описание",),
        "options": ("варианты", "вариант"),
        "pickup": ("выдача",),
        "groups": ("группы",),
    },
}
KEYS: dict[str, tuple[str, ...]] = {
    "price": (),
    "min": (),
    "deadline": (),
    "start": (),
    "stock": (),
    "limit": (),
    "mode": (),
    "note": (),
    "description": ("desc",),
    "options": ("option",),
    "pickup": ("pickups",),
    "groups": ("group",),
}
# The languages that write each key that is not English.
KEY_LANGUAGES: dict[str, set[str]] = {}
for _lang, _keys in KEYS_BY_LANGUAGE.items():
    for _field, _aliases in _keys.items():
        KEYS[_field] += _aliases
        for _alias in _aliases:
            KEY_LANGUAGES.setdefault(_alias, set()).add(_lang)
