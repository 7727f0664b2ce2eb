"""The sandbox prompt box: typed text → the slash command and options the bot registered."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from bot.sandbox.fake_discord import FakeDiscord, Guild, Member
from bot.sandbox.fake_discord.uploads import image_size
from bot.sandbox.web.commandline import CommandLineError, parse_command_line

COMMANDS: list[dict[str, Any]] = [
    {
        "name": "imagine",
        "type": 1,
        "description": "Create images",
        "options": [{"name": "prompt", "type": 3, "required": True, "description": "What to draw"}],
    },
    {"name": "info", "type": 1, "description": "Your jobs", "options": []},
    {
        "name": "quota",
        "type": 1,
        "description": "Credits",
        "options": [
            {
                "name": "set-user",
                "type": 1,
                "description": "Override",
                "options": [
                    {"name": "user", "type": 6, "required": True, "description": "Who"},
                    {"name": "credits", "type": 3, "required": True, "description": "How many"},
                ],
            },
            {
                "name": "cost",
                "type": 1,
                "description": "Cost",
                "options": [
                    {
                        "name": "action",
                        "type": 3,
                        "required": True,
                        "description": "Action",
                        "choices": [
                            {"name": "imagine", "value": "imagine"},
                            {"name": "upscale", "value": "upscale"},
                        ],
                    },
                    {"name": "credits", "type": 4, "required": True, "description": "Cost"},
                ],
            },
            {
                "name": "blocked-words",
                "type": 2,
                "description": "Words",
                "options": [
                    {
                        "name": "add",
                        "type": 1,
                        "description": "Add",
                        "options": [{"name": "word", "type": 3, "required": True, "description": "Word"}],
                    }
                ],
            },
        ],
    },
]


@pytest.fixture
def guild() -> tuple[Guild, Member]:
    fake = FakeDiscord()
    guild = fake.add_guild("g")
    return guild, fake.add_member(guild, "member")


def test_the_rest_of_the_line_is_the_prompt(guild: tuple[Guild, Member]) -> None:
    parsed = parse_command_line("/imagine a red circle --ar 3:2 --no text, logo", COMMANDS, guild[0])
    assert parsed.path == ["imagine"]
    assert parsed.options == {"prompt": "a red circle --ar 3:2 --no text, logo"}
    assert parse_command_line("/imagine prompt:a cat", COMMANDS, guild[0]).options == {"prompt": "a cat"}
    # An option-like word inside the prompt stays part of the prompt.
    assert parse_command_line("/imagine a cat prompt:x", COMMANDS, guild[0]).options == {
        "prompt": "a cat prompt:x"
    }
    assert parse_command_line("  /info ", COMMANDS, guild[0]).options == {}


def test_subcommands_and_named_options(guild: tuple[Guild, Member]) -> None:
    the_guild, member = guild
    parsed = parse_command_line("/quota set-user user:@member credits:unlimited", COMMANDS, the_guild)
    assert parsed.path == ["quota", "set-user"]
    assert parsed.options == {"user": member, "credits": "unlimited"}
    by_mention = parse_command_line(f"/quota set-user user:<@{member.id}> credits:3", COMMANDS, the_guild)
    assert by_mention.options["user"] is member
    cost = parse_command_line("/quota cost action:upscale credits:2", COMMANDS, the_guild)
    assert cost.options == {"action": "upscale", "credits": 2}
    group = parse_command_line("/quota blocked-words add word:very bad words", COMMANDS, the_guild)
    assert group.path == ["quota", "blocked-words", "add"] and group.options == {"word": "very bad words"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imagine a cat", "Commands start with '/'"),
        ("/draw a cat", "Unknown command /draw. Available: /imagine, /info, /quota"),
        ("/imagine", "/imagine needs: prompt:"),
        ("/info now", "/info takes no options"),
        ("/quota", "/quota needs a subcommand: set-user, cost, blocked-words"),
        ("/quota set-user credits:3", "/quota set-user needs: user:"),
        ("/quota set-user user:@nobody credits:3", "no member '@nobody'"),
        ("/quota cost action:reroll credits:1", "must be one of imagine, upscale"),
        ("/quota cost action:imagine credits:two", "expects a whole number"),
        ("/quota cost imagine 2", "Give options as name:value"),
    ],
)
def test_mistakes_get_a_clear_answer(guild: tuple[Guild, Member], text: str, message: str) -> None:
    with pytest.raises(CommandLineError) as error:
        parse_command_line(text, COMMANDS, guild[0])
    assert message in str(error.value)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_image_sizes_are_read_from_headers(image_format: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (123, 45), "blue").save(buffer, format=image_format)
    assert image_size(buffer.getvalue()) == (123, 45)
    assert image_size(b"not an image") is None
