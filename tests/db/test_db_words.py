"""Blocked words: normalized matching, and admin-managed lists that refuse prompts before any charge."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.db import QuotaRefused, QuotaService, open_database
from bot.db.words import first_blocked, normalize_word, skeleton, word_key
from tests.db.support import ADMIN, GUILD, Clock, Submit

WORDS = {normalize_word(w): w for w in ("gore", "Blood Bath")}
ANYWHERE = {word_key("gore", anywhere=True): "gore"}


@pytest.mark.parametrize(
    "text",
    ["gore", "GORE!", "g o r e", "g.o.r.e", "g-0-r-3", "G0R3 everywhere", "some gores", "a bl00d_bath scene",
     "Blood  Bath", "góre", "GÖR3"],
)  # fmt: skip
def test_evasions_are_caught(text: str) -> None:
    assert first_blocked(text, WORDS) is not None


@pytest.mark.parametrize(
    "text", ["gorilla in the mist", "algorithm", "a bath of blood", "bloodbathing? no: blood, then bath", ""]
)
def test_innocent_text_passes(text: str) -> None:
    assert first_blocked(text, WORDS) is None


@pytest.mark.parametrize(
    "text",
    ["g\u043ere", "\u0413ORE",  # Cyrillic о, and a Cyrillic capital Г that is not a G: below
     "G\u039fR\u0395", "\uff47\uff4f\uff52\uff45", "\U0001d420\U0001d428\U0001d42b\U0001d41e",
     "\u0261ore", "g\u0585re", "\u13c0ORE", "g\u2009o\u200br\u00ade", "bl\u043e\u043ed b\u0430th"],
)  # fmt: skip
def test_look_alike_letters_from_other_scripts_are_caught(text: str) -> None:
    if text.startswith("\u0413"):  # Г looks like no Latin letter: not folded, not caught
        assert first_blocked(text, WORDS) is None
        return
    assert first_blocked(text, WORDS) is not None


def test_skeletons_fold_each_script_to_the_latin_letters_it_imitates() -> None:
    assert skeleton("\u0410\u0412\u0421\u0415\u041d\u041a\u041c\u041e\u0420\u0422\u0425") == "abcehkmoptx"
    assert skeleton("\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0455\u0456\u0458") == "aeopcyxsij"
    assert skeleton("\u0391\u0392\u0395\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4") == "abehikmnopt"
    assert skeleton("\u03bf\u03b1\u03c1\u03b9\u03ba\u03bd") == "oapikv"
    assert skeleton("\uff21\uff42\u24b8\U0001d5bd\u00e9") == "abcde"  # fullwidth, circled, math, accent
    assert skeleton("\u13a0\u13ac\uab7c") == "dee"  # Cherokee capitals, and a small letter via case folding
    assert (
        skeleton("\u043a\u043e\u0442") == "\u043ao\u0442"
    )  # Russian stays Russian where nothing looks Latin


@pytest.mark.parametrize(
    "text", ["bloodgore", "GOREFEST", "bl00dg\u043ere!", "bloodg.o.r.e", "a gored knight", "blood gore"]
)
def test_a_word_marked_anywhere_matches_inside_words(text: str) -> None:
    assert first_blocked(text, ANYWHERE) == "gore"
    if text not in ("blood gore",):
        assert first_blocked(text, WORDS) is None  # not for a whole-word entry


@pytest.mark.parametrize("text", ["go red", "algorithm", "gorilla", "ego rests", "cargo recall"])
def test_anywhere_does_not_join_pieces_of_different_words(text: str) -> None:
    assert first_blocked(text, ANYWHERE) is None


def test_leetspeak_map() -> None:
    assert normalize_word("@$5 7h3 10 4") == "asstheioa"


async def test_blocked_word_refuses_and_charges_nothing(quota: QuotaService, submit: Submit) -> None:
    assert await quota.add_blocked_word(GUILD, "  Gore ", actor_id=ADMIN)
    assert not await quota.add_blocked_word(GUILD, "G0RE", actor_id=ADMIN)  # same word, normalized
    with pytest.raises(QuotaRefused) as refused:
        await submit(5, prompt="a castle, g.0.r.e, dramatic light --ar 3:2")
    assert refused.value.reason == "blocked_word" and '"Gore"' in refused.value.message
    assert (await quota.status(GUILD, 5, [])).used == 0
    assert await quota.blocked_word_in(GUILD, "so much G O R E") == "Gore"
    assert await quota.blocked_word_in(None, "so much gore") is None  # lists are per guild

    assert await quota.blocked_words(GUILD) == ["Gore"]
    assert await quota.remove_blocked_word(GUILD, "gore", actor_id=ADMIN)
    assert not await quota.remove_blocked_word(GUILD, "gore", actor_id=ADMIN)
    await submit(5, prompt="gore")


async def test_a_word_without_letters_is_rejected(quota: QuotaService) -> None:
    with pytest.raises(ValueError):
        await quota.add_blocked_word(GUILD, " .,; ", actor_id=ADMIN)


async def test_a_word_blocked_anywhere_refuses_prompts_that_hide_it_inside_words(
    quota: QuotaService, submit: Submit
) -> None:
    assert await quota.add_blocked_word(GUILD, "gore", actor_id=ADMIN)
    await submit(5, prompt="bloodgore")  # a whole word only: passes
    assert await quota.add_blocked_word(GUILD, "gore", actor_id=ADMIN, anywhere=True)
    assert not await quota.add_blocked_word(
        GUILD, "G\u043eRE", actor_id=ADMIN, anywhere=True
    )  # same as it is
    with pytest.raises(QuotaRefused) as refused:
        await submit(6, prompt="a bl\u043e\u043edg\u043ere scene")
    assert refused.value.reason == "blocked_word" and '"gore"' in refused.value.message
    assert await quota.blocked_word_in(GUILD, "gorefest") == "gore"
    assert await quota.blocked_words(GUILD) == ["gore (anywhere)"]
    assert [e.details for e in await quota.audit_log(GUILD)][:2] == ["gore (anywhere)", "gore"]

    assert await quota.add_blocked_word(GUILD, "gore", actor_id=ADMIN)  # back to whole words
    assert await quota.blocked_word_in(GUILD, "gorefest") is None
    assert await quota.remove_blocked_word(GUILD, "g\u043ere", actor_id=ADMIN)
    assert await quota.blocked_words(GUILD) == []


async def test_upgrading_refolds_stored_words_and_keeps_them_whole_word(
    database_url: str, clock: Clock
) -> None:
    old = await open_database(database_url, revision="0002")
    try:
        async with old.session() as session:
            for normalized, word in (("g\u043ere", "g\u043ere"), ("gore", "gore"), ("bad", "bad")):
                await session.execute(
                    text(
                        "INSERT INTO blocked_words (guild_id, normalized, word, added_by, created_at)"
                        " VALUES (:guild, :normalized, :word, 1, :at)"
                    ),
                    {
                        "guild": GUILD,
                        "normalized": normalized,
                        "word": word,
                        "at": clock().replace(tzinfo=None),
                    },
                )
    finally:
        await old.close()

    db = await open_database(database_url)
    try:
        quota = QuotaService(db, now=clock)
        assert sorted(await quota.blocked_words(GUILD)) == ["bad", "gore"]  # the look-alike row merged
        assert await quota.blocked_word_in(GUILD, "G\u039fRE") in ("gore", "g\u043ere")
        assert await quota.blocked_word_in(GUILD, "bloodgore") is None
        assert await quota.remove_blocked_word(GUILD, "gore", actor_id=ADMIN)
        assert await quota.blocked_words(GUILD) == ["bad"]
    finally:
        await db.close()
