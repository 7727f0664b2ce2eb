"""The sandbox's channel survives restarts: ids, messages and attachments are kept under DATA_DIR/sandbox.

Ids must not change between runs: the bot's database keys quotas and jobs by guild, user and channel id, and
buttons on old messages carry job ids the bot resolves after a restart. Writes happen on a worker thread,
a second after the last change, and keep only attachments that a message still shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.sandbox.fake_discord import Attachment, FakeDiscord, Message

log = logging.getLogger(__name__)

STATE_VERSION = 1
KEEP_MESSAGES = 300
SAVE_DELAY_S = 1.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class _PendingFile:
    path: Path
    data: bytes


class SandboxStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_path = root / "state.json"
        self.files_dir = root / "attachments"
        self._save_task: asyncio.Task[None] | None = None
        self._fake: FakeDiscord | None = None

    # ---- loading -------------------------------------------------------------------------------------------

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None on a first run (or if the file is unreadable, which is logged)."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable sandbox state %s: %s", self.state_path, exc)
            return None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            log.warning("ignoring sandbox state %s of another version", self.state_path)
            return None
        return state

    def restore_messages(self, fake: FakeDiscord, saved: list[dict[str, Any]]) -> int:
        """Put saved messages back into the fake server; returns how many were restored."""
        world = fake.world
        restored: dict[int, Message] = {}
        for item in saved:
            channel = world.channels.get(int(item["channel_id"]))
            author = world.users.get(int(item["author_id"]))
            if channel is None or author is None:
                continue
            attachments = [self._attachment(fake, channel.id, a) for a in item.get("attachments", [])]
            if any(a is None for a in attachments):
                continue
            reference_id = item.get("reference_id")
            message = Message(
                id=int(item["id"]),
                channel=channel,
                author=author,
                content=item.get("content", ""),
                embeds=item.get("embeds", []),
                attachments=[a for a in attachments if a is not None],
                components=item.get("components", []),
                flags=int(item.get("flags", 0)),
                type=int(item.get("type", 0)),
                visible_to=item.get("visible_to"),
                reference=restored.get(int(reference_id)) if reference_id else None,
                webhook_id=item.get("webhook_id"),
                application_id=item.get("application_id"),
                interaction_metadata=item.get("interaction_metadata"),
                created_at=datetime.fromisoformat(item["created_at"]),
                edited_at=datetime.fromisoformat(item["edited_at"]) if item.get("edited_at") else None,
            )
            world.restore_message(message)
            restored[message.id] = message
        return len(restored)

    def _attachment(self, fake: FakeDiscord, channel_id: int, item: dict[str, Any]) -> Attachment | None:
        path = self.files_dir / item["file"]
        if not path.is_file():
            return None
        return Attachment(
            id=int(item["id"]),
            filename=item["filename"],
            content_type=item["content_type"],
            url=f"{fake.http_base}/attachments/{channel_id}/{item['id']}/{item['filename']}",
            size=int(item["size"]),
            description=item.get("description"),
            width=item.get("width"),
            height=item.get("height"),
            path=path,
        )

    # ---- saving --------------------------------------------------------------------------------------------

    def watch(self, fake: FakeDiscord, ids: dict[str, int]) -> None:
        """Save (debounced) whenever a message changes; `ids` are the sandbox's fixed ids."""
        self._fake = fake
        self._ids = ids

        def on_change(event: str, subject: Any) -> None:
            if event.startswith("message_") and (self._save_task is None or self._save_task.done()):
                self._save_task = asyncio.get_running_loop().create_task(self._save_later())

        fake.listen(on_change)

    async def _save_later(self) -> None:
        await asyncio.sleep(SAVE_DELAY_S)
        await self.save()

    async def save(self) -> None:
        """Write the state now (the encoding happens here, the file writes on a worker thread)."""
        if self._fake is None:
            return
        messages = self._forget_old(self._fake)
        pending: list[_PendingFile] = []
        saved = [self._message_state(m, pending) for m in messages]
        state = {"version": STATE_VERSION, "ids": self._ids, "messages": saved}
        keep = {a["file"] for m in saved for a in m["attachments"]}
        await asyncio.to_thread(self._write, state, pending, keep)
        for message in messages:
            for attachment in message.attachments:
                if attachment.path is not None:
                    attachment.content = None  # served from the file from now on

    @staticmethod
    def _forget_old(fake: FakeDiscord) -> list[Message]:
        """Keep the latest messages (in memory too, so a long session stays small); drop the rest, replaced
        attachments (old progress previews) and edit histories."""
        world = fake.world
        messages = [m for m in world.messages.values() if not m.deleted][-KEEP_MESSAGES:]
        kept = {m.id for m in messages}
        for message_id in [i for i in world.messages if i not in kept]:
            del world.messages[message_id]
        shown = {a.id for m in messages for a in m.attachments}
        for attachment_id in [i for i in world.attachments if i not in shown]:
            del world.attachments[attachment_id]
        for message in messages:
            message.revisions.clear()
        return messages

    def _message_state(self, message: Message, pending: list[_PendingFile]) -> dict[str, Any]:
        attachments = []
        for attachment in message.attachments:
            if attachment.path is None:
                name = f"{attachment.id}-{_UNSAFE.sub('_', attachment.filename)}"
                attachment.path = self.files_dir / name
                pending.append(_PendingFile(attachment.path, attachment.data))
            attachments.append(
                {
                    "id": attachment.id,
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "description": attachment.description,
                    "width": attachment.width,
                    "height": attachment.height,
                    "file": attachment.path.name,
                }
            )
        return {
            "id": message.id,
            "channel_id": message.channel.id,
            "author_id": message.author.id,
            "content": message.content,
            "embeds": message.embeds,
            "components": message.components,
            "attachments": attachments,
            "flags": message.flags,
            "type": message.type,
            "visible_to": message.visible_to,
            "reference_id": message.reference.id if message.reference else None,
            "webhook_id": message.webhook_id,
            "application_id": message.application_id,
            "interaction_metadata": message.interaction_metadata,
            "created_at": message.created_at.isoformat(),
            "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        }

    def _write(self, state: dict[str, Any], pending: list[_PendingFile], keep: set[str]) -> None:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        for item in pending:
            item.path.write_bytes(item.data)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.state_path)
        for path in self.files_dir.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    def save_ids(self, ids: dict[str, int]) -> None:
        """Write the ids at once (first run), before the bot stores anything keyed by them."""
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.load() or {"version": STATE_VERSION, "messages": []}
        state["ids"] = ids
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.state_path)
