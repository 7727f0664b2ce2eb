"""Blocked words: normalized matching, and admin-managed lists that refuse prompts before any charge."""

from __future__ import annotations

import pytest

from bot.db import QuotaRefused, QuotaService
from bot.db.words import first_blocked, normalize_word
from tests.db.support import ADMIN, GUILD, Submit

WORDS = {normalize_word(w): w for w in ("gore", "Blood Bath")}


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
