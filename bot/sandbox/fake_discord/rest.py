"""REST API v10: the routes discord.py calls for a bot that uses slash commands, buttons and messages."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .faults import FaultInjector
from .interactions import ACK_DEADLINE_S, Callback, CallbackType, InteractionRecord
from .model import (
    FLAG_EPHEMERAL,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_DEFAULT,
    BotApplication,
    Channel,
    Message,
)
from .responses import error_response, json_response
from .uploads import BadRequest, read_body
from .world import World

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
MAX_REQUEST_LOG = 100_000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RequestRecord:
    """One REST request the bot made: method, path under /api/v10, the status answered, monotonic time."""

    method: str
    path: str
    status: int
    at: float


def _needs_bot_auth(path: str) -> bool:
    return not (path.startswith("/interactions/") or path.startswith("/webhooks/"))


class RestApi:
    def __init__(
        self,
        world: World,
        app: BotApplication,
        faults: FaultInjector,
        *,
        gateway_url: Callable[[], str],
        ack_deadline: float | None = ACK_DEADLINE_S,
    ) -> None:
        self.world = world
        self.app = app
        self.faults = faults
        self.gateway_url = gateway_url
        self.ack_deadline = ack_deadline
        self.requests: deque[RequestRecord] = deque(maxlen=MAX_REQUEST_LOG)
        self.unhandled: list[RequestRecord] = []
        self.server_errors: list[Exception] = []

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        return [
            web.get(p + "/gateway", self.get_gateway),
            web.get(p + "/gateway/bot", self.get_gateway_bot),
            web.get(p + "/users/@me", self.get_me),
            web.post(p + "/users/@me/channels", self.create_dm),
            web.get(p + "/users/{user_id}", self.get_user),
            web.get(p + "/oauth2/applications/@me", self.get_application),
            web.get(p + "/applications/@me", self.get_application),
            web.get(p + "/applications/{app_id}/commands", self.get_commands),
            web.put(p + "/applications/{app_id}/commands", self.put_commands),
            web.get(p + "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            web.put(p + "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            web.post(p + "/interactions/{interaction_id}/{token}/callback", self.interaction_callback),
            web.post(p + "/webhooks/{app_id}/{token}", self.webhook_execute),
            web.get(p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get),
            web.patch(p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_edit),
            web.delete(p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_delete),
            web.get(p + "/channels/{channel_id}", self.get_channel),
            web.get(p + "/channels/{channel_id}/messages", self.list_messages),
            web.post(p + "/channels/{channel_id}/messages", self.create_message),
            web.get(p + "/channels/{channel_id}/messages/{message_id}", self.get_message),
            web.patch(p + "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            web.delete(p + "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            web.post(p + "/channels/{channel_id}/typing", self.typing),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            web.route("*", p + "/{tail:.*}", self.not_found),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        path = request.path[len(API_PREFIX) :]
        response: web.StreamResponse
        if _needs_bot_auth(path) and request.headers.get("Authorization") != f"Bot {self.app.token}":
            response = error_response(401, "401: Unauthorized", 0)
        else:
            hold = self.faults.take_hold(request.method, path, request.content_type)
            if hold is not None and not hold.apply:
                await hold.wait()
                if hold.dropped:
                    return web.Response(status=499)
            injected = self.faults.take(request.method, path)
            if injected is not None and injected.disconnect:
                await request.read()
                injected.response()
                if request.transport is not None:
                    request.transport.abort()  # the client sees the connection drop, no HTTP answer
                return web.Response(status=499)
            if injected is not None:
                await request.read()
                response = injected.response()
            else:
                try:
                    response = await handler(request)
                except BadRequest as exc:
                    response = error_response(exc.status, exc.message, exc.code)
                except web.HTTPException:
                    raise
                except Exception as exc:
                    log.exception("fake Discord failed on %s %s", request.method, path)
                    self.server_errors.append(exc)
                    response = error_response(500, "500: Internal Server Error", 0)
            if hold is not None and hold.apply:
                await hold.wait()
                if hold.dropped and request.transport is not None:
                    request.transport.abort()  # applied, but the client never hears the answer
                    return web.Response(status=499)
        record = RequestRecord(request.method, path, response.status, time.monotonic())
        self.requests.append(record)
        if request.match_info.route.handler == self.not_found:
            self.unhandled.append(record)
            log.warning("unhandled request %s %s", request.method, path)
        return response

    async def not_found(self, request: web.Request) -> web.Response:
        return error_response(404, "404: Not Found", 0)

    # ---- identity ------------------------------------------------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url()})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return json_response({"url": self.gateway_url(), "shards": 1, "session_start_limit": limit})

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.app.user.payload())

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            return error_response(404, "Unknown User", 10013)
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        payload = await request.json()
        user = self.world.users.get(int(payload.get("recipient_id") or 0))
        if user is None:
            raise BadRequest("Unknown User", code=10013, status=404)
        return json_response(self.world.dm_channel(user).payload())

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(self.app.payload())

    # ---- application commands ------------------------------------------------------------------------------

    def _check_app(self, request: web.Request) -> None:
        if request.match_info["app_id"] != str(self.app.id):
            raise BadRequest("Unknown Application", code=10002, status=404)

    async def get_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return json_response(self.world.global_commands)
        return json_response(self.world.guild_commands.get(int(guild_id), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        payload = await request.json()
        if not isinstance(payload, list):
            raise BadRequest("Invalid Form Body: expected a list of commands")
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and int(guild_id) not in self.world.guilds:
            raise BadRequest("Unknown Guild", code=10004, status=404)
        previous = (
            self.world.global_commands
            if guild_id is None
            else self.world.guild_commands.get(int(guild_id), [])
        )
        ids = {(cmd["name"], cmd.get("type", 1)): cmd["id"] for cmd in previous}
        stored: list[dict[str, Any]] = []
        names: set[tuple[str, int]] = set()
        for command in payload:
            name = command.get("name", "")
            kind = int(command.get("type", 1))
            if not name or (name, kind) in names:
                raise BadRequest(f"Invalid Form Body: duplicate or empty command name {name!r}")
            names.add((name, kind))
            entry = dict(command)
            entry.update(
                id=ids.get((name, kind)) or str(self.world.ids.next()),
                application_id=str(self.app.id),
                version=str(self.world.ids.next()),
                type=kind,
                description=command.get("description", ""),
                default_member_permissions=command.get("default_member_permissions"),
            )
            entry.setdefault("options", [])
            entry.setdefault("nsfw", False)
            if guild_id is not None:
                entry["guild_id"] = guild_id
            stored.append(entry)
        if guild_id is None:
            self.world.global_commands = stored
        else:
            self.world.guild_commands[int(guild_id)] = stored
        self.world.emit("commands_update", guild_id)
        return json_response(stored)

    # ---- interactions --------------------------------------------------------------------------------------

    def _metadata(self, record: InteractionRecord) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "user": record.user.payload(),
            "authorizing_integration_owners": {"0": str(record.channel.guild_id or 0)},
        }
        if record.type == 2:
            data["name"] = record.name
        elif record.message is not None:
            data["interacted_message_id"] = str(record.message.id)
        return data

    def _new_response_message(
        self, record: InteractionRecord, data: dict[str, Any], files: list[Any], *, loading: bool
    ) -> Message:
        return self.world.create_message(
            record.channel,
            self.app.user,
            data,
            files,
            visible_to=record.user.id,
            message_type=MESSAGE_CHAT_INPUT_COMMAND if record.type == 2 else MESSAGE_DEFAULT,
            webhook_id=self.app.id,
            application_id=self.app.id,
            interaction_metadata=self._metadata(record),
            loading=loading,
        )

    async def interaction_callback(self, request: web.Request) -> web.Response:
        record = self.world.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            return error_response(404, "Unknown interaction", 10062)
        payload, files = await read_body(request)
        if record.callbacks:
            return error_response(400, "Interaction has already been acknowledged.", 40060)
        if self.ack_deadline is not None and time.monotonic() - record.created_at > self.ack_deadline:
            log.warning("interaction %s acknowledged after the %.1fs deadline", record.id, self.ack_deadline)
            return error_response(404, "Unknown interaction", 10062)
        try:
            kind = CallbackType(int(payload.get("type", 0)))
        except ValueError:
            raise BadRequest(f"Invalid Form Body: unknown callback type {payload.get('type')!r}") from None
        data: dict[str, Any] = payload.get("data") or {}
        resource_message: Message | None = None
        if kind is CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            record.original = self._new_response_message(record, data, files, loading=False)
            resource_message = record.original
        elif kind is CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            record.original = self._new_response_message(record, data, [], loading=True)
        elif kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            if record.message is None:
                raise BadRequest("Interaction callback type 6/7 is only valid for component interactions")
            if kind is CallbackType.UPDATE_MESSAGE:
                self.world.edit_message(record.message, data, files)
                resource_message = record.message
            record.original = record.message
        elif kind is CallbackType.MODAL:
            if record.type == 5:
                raise BadRequest("A modal submit cannot be answered with another modal")
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise BadRequest("Invalid Form Body: a modal needs a custom_id, a title and components")
            record.modal = data
        elif kind is CallbackType.PONG:
            raise BadRequest("PONG is only valid for PING interactions")
        record.ephemeral = bool(record.original is not None and record.original.ephemeral)
        record.callbacks.append(Callback(type=kind, data=data, at=time.monotonic()))
        record.acked.set()
        self.world.emit("interaction_ack", record)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        body: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.type,
                "activity_instance_id": None,
                "response_message_id": str(record.original.id) if record.original else None,
                "response_message_loading": kind is CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": record.ephemeral,
            }
        }
        if resource_message is not None:
            body["resource"] = {"type": int(kind), "message": resource_message.payload()}
        return json_response(body)

    # ---- webhooks (interaction follow-ups) -----------------------------------------------------------------

    def _webhook_record(self, request: web.Request) -> InteractionRecord:
        record = self.world.interactions_by_token.get(request.match_info["token"])
        if record is None or request.match_info["app_id"] != str(self.app.id):
            raise BadRequest("Unknown Webhook", code=10015, status=404)
        if record.token_expired:
            raise BadRequest("Invalid Webhook Token", code=50027, status=401)
        if not record.callbacks:
            raise BadRequest("Unknown Webhook", code=10015, status=404)
        return record

    def _webhook_message(self, record: InteractionRecord, message_id: str) -> Message:
        if message_id == "@original":
            if record.original is None or record.original.deleted:
                raise BadRequest("Unknown Message", code=10008, status=404)
            return record.original
        for message in record.messages:
            if str(message.id) == message_id and not message.deleted:
                return message
        raise BadRequest("Unknown Message", code=10008, status=404)

    async def webhook_execute(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        payload, files = await read_body(request)
        original = record.original
        if original is not None and original.loading and not original.deleted:
            # Discord: the first follow-up after a deferred "thinking" response replaces that message.
            message = self.world.edit_message(original, payload, files)
        else:
            message = self.world.create_message(
                record.channel,
                self.app.user,
                payload,
                files,
                visible_to=record.user.id,
                webhook_id=self.app.id,
                application_id=self.app.id,
                interaction_metadata=self._metadata(record),
            )
            record.followups.append(message)
        if request.query.get("wait") in ("0", "false", "False"):
            return web.Response(status=204)
        return json_response(message.payload())

    async def webhook_get(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        return json_response(self._webhook_message(record, request.match_info["message_id"]).payload())

    async def webhook_edit(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        message = self._webhook_message(record, request.match_info["message_id"])
        payload, files = await read_body(request)
        return json_response(self.world.edit_message(message, payload, files).payload())

    async def webhook_delete(self, request: web.Request) -> web.Response:
        record = self._webhook_record(request)
        self.world.delete_message(self._webhook_message(record, request.match_info["message_id"]))
        return web.Response(status=204)

    # ---- channels and messages (bot token) -----------------------------------------------------------------

    def _channel(self, request: web.Request) -> Channel:
        channel = self.world.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise BadRequest("Unknown Channel", code=10003, status=404)
        return channel

    def _message(self, request: web.Request, channel: Channel) -> Message:
        message = self.world.messages.get(int(request.match_info["message_id"]))
        if message is None or message.channel is not channel or message.deleted or message.ephemeral:
            raise BadRequest("Unknown Message", code=10008, status=404)
        return message

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        before = int(request.query.get("before", 0)) or None
        after = int(request.query.get("after", 0)) or None
        found = [
            m
            for m in self.world.channel_messages(channel)
            if not m.ephemeral and (before is None or m.id < before) and (after is None or m.id > after)
        ]
        found.sort(key=lambda m: m.id, reverse=True)
        if after is not None:
            found = list(reversed(found))[:limit]
            found.reverse()
        return json_response([m.payload() for m in found[:limit]])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        payload, files = await read_body(request)
        if channel.recipient is not None and channel.recipient.dms_closed:
            raise BadRequest("Cannot send messages to this user", code=50007, status=403)
        payload = dict(payload)
        payload["flags"] = int(payload.get("flags") or 0) & ~FLAG_EPHEMERAL
        message = self.world.create_message(channel, self.app.user, payload, files)
        return json_response(message.payload())

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_response(self._message(request, channel).payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._message(request, channel)
        if message.author.id != self.app.user.id:
            raise BadRequest("Cannot edit a message authored by another user", code=50005, status=403)
        payload, files = await read_body(request)
        return json_response(self.world.edit_message(message, payload, files).payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self.world.delete_message(self._message(request, channel))
        return web.Response(status=204)

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    # ---- guilds --------------------------------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            return error_response(404, "Unknown Guild", 10004)
        data = guild.payload()
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large"):
            data.pop(key, None)
        return json_response(data)

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        member = guild.members.get(int(request.match_info["user_id"])) if guild else None
        if member is None:
            return error_response(404, "Unknown Member", 10007)
        return json_response(member.payload())
