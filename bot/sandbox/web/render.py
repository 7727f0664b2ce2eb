"""Messages and commands as the sandbox page shows them (JSON for app.js)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.fake_discord import Guild, Member, Message, User

SUBCOMMAND_TYPES = (1, 2)


def user_json(user: User | Member, guild: Guild) -> dict[str, Any]:
    member = user if isinstance(user, Member) else guild.members.get(user.id)
    plain = member.user if member is not None else user
    assert isinstance(plain, User)
    roles = [role.name for role in member.roles] if member is not None else []
    return {
        "id": str(plain.id),
        "name": plain.name,
        "bot": plain.bot,
        "roles": roles,
        "permissions": str(member.permissions) if member is not None else "0",
    }


def message_json(message: Message, guild: Guild) -> dict[str, Any]:
    reply_to = None
    if message.reference is not None:
        ref = message.reference
        reply_to = {
            "id": str(ref.id),
            "author": ref.author.name,
            "content": ref.content[:120],
            "has_image": any(a.is_image for a in ref.attachments),
        }
    used = None
    meta = message.interaction_metadata
    if meta and meta.get("type") == 2:
        used = {
            "user": meta["user"]["global_name"] or meta["user"]["username"],
            "command": meta.get("name", ""),
        }
    return {
        "id": str(message.id),
        "author": user_json(message.author, guild),
        "content": message.content,
        "embeds": message.embeds,
        "attachments": [
            {
                "id": str(a.id),
                "url": a.url,
                "filename": a.filename,
                "content_type": a.content_type,
                "width": a.width,
                "height": a.height,
                "size": a.size,
                "image": a.is_image,
            }
            for a in message.attachments
        ],
        "components": message.components,
        "ephemeral": message.ephemeral,
        "loading": message.loading,
        "reply_to": reply_to,
        "used": used,
        "timestamp": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
    }


def commands_json(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every invocable command path with its options, for the page's suggestions."""
    found: list[dict[str, Any]] = []

    def walk(path: list[str], description: str, options: list[dict[str, Any]]) -> None:
        subs = [opt for opt in options if opt["type"] in SUBCOMMAND_TYPES]
        if subs:
            for sub in subs:
                walk([*path, sub["name"]], sub.get("description", ""), sub.get("options", []))
            return
        found.append(
            {
                "name": " ".join(path),
                "description": description,
                "options": [
                    {
                        "name": opt["name"],
                        "type": opt["type"],
                        "required": bool(opt.get("required")),
                        "description": opt.get("description", ""),
                        "choices": [c["name"] for c in opt.get("choices", [])],
                    }
                    for opt in options
                ],
            }
        )

    for command in commands:
        if command.get("type", 1) == 1:
            walk([command["name"]], command.get("description", ""), command.get("options", []))
    return sorted(found, key=lambda c: c["name"])
