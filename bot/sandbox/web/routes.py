"""The sandbox page's HTTP API and live updates, served by the fake Discord server's own aiohttp app.

- `GET /` the page; `GET /static/…` its script and style.
- `GET /sandbox/api/state?user=ID` the channel as that user sees it, the users, the registered commands.
- `POST /sandbox/api/command {"user", "text"}` sends a slash command interaction to the bot.
- `POST /sandbox/api/click {"user", "message", "custom_id"}` sends a button interaction; `select` (with
  `"values"`) a select menu's; `apps {"user", "message", "name"}` a message's Apps entry (Describe). Their
  answer carries the `modal` the bot opened, if any, which `modal {"user", "interaction", "values"}` submits.
- `GET /sandbox/ws?user=ID` a websocket of JSON updates: `message`, `delete`, `commands`, `status`,
  `no_response` (the bot did not acknowledge within Discord's 3 seconds), filtered to what that user may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yarl
from aiohttp import web

from bot.sandbox.fake_discord import Channel, FakeDiscord, Guild, InteractionRecord, Member, Message
from bot.sandbox.web.commandline import CommandLineError, parse_command_line
from bot.sandbox.web.render import commands_json, message_json, user_json

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
NO_RESPONSE_AFTER_S = 3.5
MODAL_WAIT_S = 3.0
"""How long a click waits for the bot's answer, so a box (modal) it opens can be shown by the page."""
PAGE_MESSAGES = 200

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def _host_name(host: str) -> str:
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


def _origin_of(url: yarl.URL) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in, as browsers compare origins."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _same_origin(origin: str, request: web.Request) -> bool:
    """Whether an ``Origin`` header names exactly the scheme, host and port this request was sent to."""
    try:
        sent_from = yarl.URL(origin)
        served_at = yarl.URL.build(scheme=request.scheme, authority=request.host)
    except ValueError:
        return False
    return bool(sent_from.host) and _origin_of(sent_from) == _origin_of(served_at)


@web.middleware
async def _local_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer only requests addressed to this machine by name (no DNS rebinding), and refuse page actions
    from any other origin (another site, or another port of this machine): cross-site POSTs and websockets."""
    if _host_name(request.host) not in LOCAL_HOSTS:
        raise web.HTTPForbidden(reason="the sandbox answers only on 127.0.0.1 / localhost")
    if request.path.startswith("/sandbox/"):
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, request):
            raise web.HTTPForbidden(reason="cross-site request refused")
        if request.method == "POST" and request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(reason="send JSON")
    return await handler(request)


def security_headers(request: web.Request, images_from: str) -> dict[str, str]:
    """Headers on every answer: no framing by any page (clickjacking the buttons), no content sniffing,
    no referrer, and a policy that lets the page load only its own script, style, images (also from
    ``images_from``, where attachments are served) and its own websocket."""
    websocket = f"{'wss' if request.scheme == 'https' else 'ws'}://{request.host}"
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' {images_from} data: blob:",
            f"connect-src 'self' {websocket}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@dataclass(eq=False)
class _Client:
    user_id: int
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


class SandboxWeb:
    def __init__(self, fake: FakeDiscord, guild: Guild, channel: Channel, users: list[Member]) -> None:
        self.fake = fake
        self.guild = guild
        self.channel = channel
        self.users = users
        self._clients: set[_Client] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        fake.listen(self._on_change)

    def mount(self, app: web.Application) -> None:
        app.middlewares.append(_local_only)
        app.on_response_prepare.append(self._add_security_headers)
        app.add_routes(
            [
                web.get("/", self.index),
                web.static("/static", STATIC_DIR),
                web.get("/sandbox/api/state", self.state),
                web.post("/sandbox/api/command", self.command),
                web.post("/sandbox/api/click", self.click),
                web.post("/sandbox/api/select", self.select),
                web.post("/sandbox/api/modal", self.modal),
                web.post("/sandbox/api/apps", self.apps),
                web.get("/sandbox/ws", self.websocket),
            ]
        )

    async def close(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        for client in list(self._clients):
            client.queue.put_nowait({"type": "closing"})

    async def _add_security_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in security_headers(request, self.fake.http_base).items():
            response.headers.setdefault(name, value)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _user(self, raw: Any) -> Member:
        try:
            user_id = int(raw)
        except (TypeError, ValueError):
            raise web.HTTPBadRequest(reason="user must be a user id") from None
        member = next((m for m in self.users if m.user.id == user_id), None)
        if member is None:
            raise web.HTTPBadRequest(reason="unknown sandbox user")
        return member

    def _visible(self, message: Message, user_id: int) -> bool:
        return message.channel is self.channel and message.visible_for(user_id)

    def _broadcast(self, update: dict[str, Any], message: Message | None = None) -> None:
        for client in self._clients:
            if message is None or self._visible(message, client.user_id):
                client.queue.put_nowait(update)

    def _on_change(self, event: str, subject: Any) -> None:
        if isinstance(subject, Message) and subject.channel is self.channel:
            if event == "message_delete":
                self._broadcast({"type": "delete", "id": str(subject.id)}, subject)
            elif event in ("message_create", "message_update"):
                self._broadcast({"type": "message", "message": message_json(subject, self.guild)}, subject)
        elif event == "commands_update":
            self._broadcast({"type": "commands", "commands": self._commands()})
        elif event == "gateway":
            self._broadcast({"type": "status", "connected": self.fake.gateway_connected})

    def _commands(self) -> list[dict[str, Any]]:
        return commands_json(self.fake.commands(self.guild))

    def _watch(self, record: InteractionRecord) -> None:
        async def watch() -> None:
            with contextlib.suppress(TimeoutError):
                await record.wait_acked(timeout=NO_RESPONSE_AFTER_S)
                return
            for client in self._clients:
                if client.user_id == record.user.id:
                    client.queue.put_nowait({"type": "no_response", "what": record.name})

        task = asyncio.get_running_loop().create_task(watch())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    # ---- routes --------------------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def state(self, request: web.Request) -> web.Response:
        wanted = request.query.get("user", "")
        viewer = next((m for m in self.users if str(m.user.id) == wanted), self.users[0])
        messages = [m for m in self.fake.messages(self.channel) if m.visible_for(viewer.user)][
            -PAGE_MESSAGES:
        ]
        return web.json_response(
            {
                "me": user_json(viewer, self.guild),
                "users": [user_json(m, self.guild) for m in self.users],
                "bot": user_json(self.fake.bot_user, self.guild),
                "guild": {"id": str(self.guild.id), "name": self.guild.name},
                "channel": {"id": str(self.channel.id), "name": self.channel.name},
                "members": {str(m.user.id): m.user.name for m in self.guild.members.values()},
                "commands": self._commands(),
                "connected": self.fake.gateway_connected,
                "messages": [message_json(m, self.guild) for m in messages],
            }
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(reason="expected a JSON body") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="expected a JSON object")
        return body

    async def command(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        member = self._user(body.get("user"))
        try:
            parsed = parse_command_line(str(body.get("text", "")), self.fake.commands(self.guild), self.guild)
            record = await self.fake.slash(member, self.channel, " ".join(parsed.path), **parsed.options)
        except (CommandLineError, LookupError, TypeError, ValueError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except RuntimeError as exc:
            return web.json_response(
                {"ok": False, "error": f"The bot is not connected yet ({exc})."}, status=503
            )
        self._watch(record)
        return web.json_response({"ok": True, "interaction": str(record.id)})

    async def click(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        member = self._user(body.get("user"))
        try:
            message = self.fake.world.messages[int(body.get("message", 0))]
            record = await self.fake.click(member, message, str(body.get("custom_id", "")))
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "error": f"That button cannot be used: {exc}"}, status=400)
        except RuntimeError as exc:
            return web.json_response(
                {"ok": False, "error": f"The bot is not connected yet ({exc})."}, status=503
            )
        return await self._answered(record)

    async def _answered(self, record: InteractionRecord) -> web.Response:
        """The interaction's id, and the box to show when the bot answered with a modal (Remix)."""
        self._watch(record)
        with contextlib.suppress(TimeoutError):
            await record.wait_acked(timeout=MODAL_WAIT_S)
        answer: dict[str, Any] = {"ok": True, "interaction": str(record.id)}
        if record.modal is not None:
            fields = []
            for row in record.modal.get("components", []):
                # A text input in a row, or a text input / select inside a label (type 18).
                children = row.get("components") or ([row["component"]] if "component" in row else [])
                for child in children:
                    field = {
                        "id": child["custom_id"],
                        "label": child.get("label") or row.get("label", ""),
                        "value": child.get("value", ""),
                    }
                    if child.get("type") == 3:
                        field["options"] = [
                            {"value": o["value"], "label": o.get("label", "")}
                            for o in child.get("options", [])
                        ]
                    fields.append(field)
            answer["modal"] = {"title": record.modal.get("title", ""), "fields": fields}
        return web.json_response(answer)

    async def select(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        member = self._user(body.get("user"))
        values = body.get("values")
        try:
            if not isinstance(values, list):
                raise ValueError("values must be a list")
            message = self.fake.world.messages[int(body.get("message", 0))]
            record = await self.fake.select(
                member, message, str(body.get("custom_id", "")), [str(v) for v in values]
            )
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "error": f"That menu cannot be used: {exc}"}, status=400)
        except RuntimeError as exc:
            return web.json_response(
                {"ok": False, "error": f"The bot is not connected yet ({exc})."}, status=503
            )
        return await self._answered(record)

    async def modal(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        member = self._user(body.get("user"))
        values = body.get("values")
        try:
            opened = self.fake.world.interactions[int(body.get("interaction", 0))]
            if opened.user.id != member.user.id or not isinstance(values, dict):
                raise LookupError("that box belongs to someone else")
            given = {
                str(k): [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in values.items()
            }
            record = await self.fake.submit_modal(member, opened, given)
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "error": f"That box cannot be sent: {exc}"}, status=400)
        except RuntimeError as exc:
            return web.json_response(
                {"ok": False, "error": f"The bot is not connected yet ({exc})."}, status=503
            )
        return await self._answered(record)

    async def apps(self, request: web.Request) -> web.Response:
        """A message's Apps menu entry (e.g. Describe) used on a message."""
        body = await self._body(request)
        member = self._user(body.get("user"))
        try:
            message = self.fake.world.messages[int(body.get("message", 0))]
            record = await self.fake.message_command(member, message, str(body.get("name", "")))
        except (KeyError, ValueError, LookupError) as exc:
            return web.json_response({"ok": False, "error": f"That app cannot be used: {exc}"}, status=400)
        except RuntimeError as exc:
            return web.json_response(
                {"ok": False, "error": f"The bot is not connected yet ({exc})."}, status=503
            )
        return await self._answered(record)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        member = self._user(request.query.get("user"))
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        client = _Client(user_id=member.user.id)
        self._clients.add(client)
        reader = asyncio.get_running_loop().create_task(self._drain(ws))
        try:
            while not ws.closed:
                getter = asyncio.ensure_future(client.queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                update = getter.result()
                if update.get("type") == "closing":
                    break
                await ws.send_str(json.dumps(update))
        except (ConnectionError, RuntimeError):
            log.debug("sandbox page disconnected")
        finally:
            self._clients.discard(client)
            reader.cancel()
            await ws.close()
        return ws

    async def _drain(self, ws: web.WebSocketResponse) -> None:
        """Read (and ignore) what the page sends, so a closed socket is noticed."""
        async for _ in ws:
            pass
