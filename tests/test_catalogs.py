"""The catalogs: every word of every message translated in every language, the committed
template (locales/messages.pot) current, placeholders kept, plural forms right."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES, LOCALES
from bot.texts import CATALOGS, DOMAIN, ROOT, Texts, translations

TRANSLATED = [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE]
# A catalog entry: its msgid (singular and plural for ngettext) and its context.
Key = tuple[str | tuple[str, str], str | None]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _extracted() -> set[Key]:
    """Every msgid the code and the layouts use now, as Babel's extractor finds them."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[Key] = set()
    for folder in ("bot", "templates"):
        for _, _, message, _, context in extract_from_dir(
            ROOT / folder,
            [(pattern.removeprefix(f"{folder}/"), method) for pattern, method in method_map],
            {key.removeprefix(f"{folder}/"): value for key, value in options_map.items()},
            keywords=DEFAULT_KEYWORDS,
        ):
            msgid = tuple(message[:2]) if isinstance(message, tuple) else message
            found.add((msgid, context))  # type: ignore[arg-type]
    return found


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale, domain=DOMAIN)


def _ids(catalog: Catalog) -> set[Key]:
    """Each entry as (msgid, its context): one msgid may mean two things (pgettext)."""
    return {
        (tuple(message.id[:2]) if isinstance(message.id, tuple) else message.id, message.context)  # type: ignore[misc]
        for message in catalog
        if message.id
    }


def _strings(value: str | tuple[str, ...]) -> Iterator[str]:
    yield from (value,) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def extracted() -> set[Key]:
    return _extracted()


def test_the_template_is_current(extracted: set[Key]) -> None:
    """A word added or changed in a layout without `pybabel extract` shows here."""
    template = _ids(_catalog(CATALOGS / "messages.pot"))
    assert not extracted - template, f"not in locales/messages.pot: {extracted - template}"
    assert not template - extracted, f"no longer used: {template - extracted}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_catalog_is_complete(lang: str, extracted: set[Key]) -> None:
    locale = LOCALES[lang]
    catalog = _catalog(CATALOGS / locale / "LC_MESSAGES" / f"{DOMAIN}.po", locale)
    missing = extracted - _ids(catalog)
    assert not missing, f"{locale} lacks {sorted(map(str, missing))[:10]}"
    plurals = catalog.num_plurals
    for message in catalog:
        if not message.id:
            continue
        where = f"{locale}: {message.id!r}"
        assert "fuzzy" not in message.flags, f"{where} is fuzzy"
        strings = list(_strings(message.string))
        assert all(s.strip() for s in strings), f"{where} is untranslated"
        if isinstance(message.id, tuple):
            assert len(strings) == plurals, f"{where}: {len(strings)} of {plurals} plural forms"
        wanted = set(PLACEHOLDER.findall(" ".join(_strings(message.id)))) - {"num"}
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) - {"num"} == wanted, f"{where}: {string!r}"


@pytest.mark.parametrize(
    ("count", "word"), [(1, "уровень"), (2, "уровня"), (5, "уровней"), (21, "уровень")]
)
def test_russian_plurals_follow_the_catalogs_rules(count: int, word: str) -> None:
    """1 уровень, 2 уровня, 5 уровней, 21 уровень: the catalog's rule, not an `if`."""
    text = Texts().render("button_setting", "ru", key="levels", value=str(count), current=False)
    assert text == f"{count} {word}"
    assert translations("ru").ngettext("%(num)s level", "%(num)s levels", count).endswith(word)
