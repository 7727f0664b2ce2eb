"""`FakeDiscord`: the aiohttp server (REST + gateway + attachment files) and the API tests drive it with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .faults import FaultInjector, Hold, InjectedError
from .gateway import Gateway, GatewaySession
from .ids import new_token
from .interactions import ACK_DEADLINE_S, InteractionRecord, build_command_data
from .model import (
    ADD_REACTIONS,
    ATTACH_FILES,
    DEFAULT_ATTACHMENT_LIMIT,
    EMBED_LINKS,
    EVERYONE_DEFAULT,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    USE_APPLICATION_COMMANDS,
    VIEW_CHANNEL,
    Attachment,
    BotApplication,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    User,
)
from .rest import RequestRecord, RestApi
from .world import Listener, World

log = logging.getLogger(__name__)

GUILD_MESSAGES_INTENT = 1 << 9
GUILD_MEMBERS_INTENT = 1 << 1
BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_APPLICATION_COMMANDS
)
"""What the bot's role grants: what imaginebot's invite link asks for."""
DM_BOT_PERMISSIONS = BOT_PERMISSIONS
MAX_UPLOAD = 64 * 1024 * 1024


class FakeDiscord:
    """A Discord-compatible server for the real discord.py client; see the package docstring for an
    example."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "fake-bot-token",
        bot_name: str = "imaginebot",
        ack_deadline: float | None = ACK_DEADLINE_S,
        heartbeat_interval_ms: int = 41_250,
        bot_id: int | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.world = World()
        bot_user = User(id=bot_id or self.world.ids.next(), name=bot_name, bot=True)
        self.world.users[bot_user.id] = bot_user
        self.application = BotApplication(id=bot_user.id, user=bot_user, token=token)
        self.faults = FaultInjector()
        self.gateway = Gateway(
            token=lambda: self.application.token,
            ready_payload=self._ready_payload,
            guild_payloads=self._guild_payloads,
            heartbeat_interval_ms=heartbeat_interval_ms,
            on_change=lambda: self.world.emit("gateway", self.gateway),
        )
        self.rest = RestApi(
            self.world,
            self.application,
            self.faults,
            gateway_url=lambda: self.gateway_url,
            ack_deadline=ack_deadline,
        )
        self.app = web.Application(middlewares=[self.rest.middleware], client_max_size=MAX_UPLOAD)
        """The aiohttp application; more routes (e.g. a web page) may be added before `start()`."""
        self.app.add_routes(
            [
                web.get("/gateway", self.gateway.handle),
                web.get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment),
                *self.rest.routes(),
            ]
        )
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self.world.add_listener(self._forward_to_gateway)

    # ---- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self._port = int(self._runner.addresses[0][1])
        self.world.http_base = self.http_base
        self._pump = asyncio.create_task(self._pump_dispatches(), name="fake-discord-gateway-pump")
        log.info("fake Discord listening on %s", self.http_base)
        return self

    async def stop(self) -> None:
        self.faults.release_all()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- addresses -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_base(self) -> str:
        """For `discord.http.Route.BASE` / `Settings.discord_api_base`."""
        return f"{self.http_base}/api/v10"

    @property
    def gateway_url(self) -> str:
        """For `DiscordWebSocket.DEFAULT_GATEWAY` / `Settings.discord_gateway_url`."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def token(self) -> str:
        return self.application.token

    @property
    def bot_user(self) -> User:
        return self.application.user

    # ---- building the world --------------------------------------------------------------------------------

    def add_user(self, name: str, *, bot: bool = False, id: int | None = None) -> User:
        user = User(id=id or self.world.ids.next(), name=name, bot=bot)
        self.world.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT,
        id: int | None = None,
        bot_role_id: int | None = None,
    ) -> Guild:
        """A guild the bot is in, with a role for the bot. `owner` defaults to a new user '<name> owner'.
        Ids are new snowflakes unless given (e.g. to keep them across restarts)."""
        guild_id = id or self.world.ids.next()
        owner = owner or self.add_user(f"{name} owner")
        everyone = Role(id=guild_id, guild_id=guild_id, name="@everyone", permissions=EVERYONE_DEFAULT)
        guild = Guild(
            id=guild_id,
            name=name,
            owner_id=owner.id,
            everyone=everyone,
            attachment_size_limit=attachment_size_limit,
        )
        self.world.guilds[guild.id] = guild
        guild.members[owner.id] = Member(user=owner, guild=guild)
        bot_role = Role(
            id=bot_role_id or self.world.ids.next(),
            guild_id=guild_id,
            name=self.bot_user.name,
            permissions=BOT_PERMISSIONS,
        )
        guild.roles.append(bot_role)
        guild.members[self.bot_user.id] = Member(user=self.bot_user, guild=guild, roles=[bot_role])
        self._announce("GUILD_CREATE", guild.payload(members=False, bot_id=self.bot_user.id))
        return guild

    def add_role(self, guild: Guild, name: str, *, permissions: int = 0, id: int | None = None) -> Role:
        role = Role(
            id=id or self.world.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=len(guild.roles) + 1,
        )
        guild.roles.append(role)
        self._announce("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        return role

    def add_channel(
        self, guild: Guild, name: str, *, topic: str | None = None, id: int | None = None
    ) -> Channel:
        channel = Channel(
            id=id or self.world.ids.next(), guild=guild, name=name, position=len(guild.channels), topic=topic
        )
        guild.channels.append(channel)
        self.world.channels[channel.id] = channel
        self._announce("CHANNEL_CREATE", channel.payload())
        return channel

    def add_member(
        self, guild: Guild, user: User | str, *, roles: Iterable[Role] = (), permissions: int = 0
    ) -> Member:
        """Add a user (or a new user with this name) to a guild. `permissions` are granted on top of the
        roles' (like a member overwrite); interactions carry the total in `member.permissions`."""
        if isinstance(user, str):
            user = self.add_user(user)
        member = Member(user=user, guild=guild, roles=list(roles), extra_permissions=permissions)
        guild.members[user.id] = member
        data = member.payload()
        data["guild_id"] = str(guild.id)
        self._announce("GUILD_MEMBER_ADD", data, intent=GUILD_MEMBERS_INTENT)
        return member

    def set_roles(self, member: Member, roles: Iterable[Role]) -> None:
        member.roles = list(roles)
        data = member.payload()
        data["guild_id"] = str(member.guild.id)
        self._announce("GUILD_MEMBER_UPDATE", data, intent=GUILD_MEMBERS_INTENT)

    def guild_named(self, name: str) -> Guild:
        for guild in self.world.guilds.values():
            if guild.name == name:
                return guild
        raise LookupError(f"no guild named {name!r}")

    # ---- inspecting ----------------------------------------------------------------------------------------

    @property
    def requests(self) -> Sequence[RequestRecord]:
        """Every REST request the bot made, in order (the latest 100,000)."""
        return self.rest.requests

    @property
    def unhandled_requests(self) -> list[RequestRecord]:
        """REST requests to routes this server does not implement (answered 404)."""
        return self.rest.unhandled

    @property
    def server_errors(self) -> list[Exception]:
        """Exceptions raised inside this server while handling a request (answered 500); a bug if not
        empty."""
        return self.rest.server_errors

    @property
    def interactions(self) -> list[InteractionRecord]:
        return list(self.world.interactions.values())

    def commands(self, guild: Guild | None = None) -> list[dict[str, Any]]:
        """Slash commands the bot registered, as stored (guild commands first, then global ones)."""
        return self.world.commands_for(guild.id if guild else None)

    def messages(
        self, channel: Channel | None = None, *, viewer: User | Member | None = None
    ) -> list[Message]:
        """Messages (not deleted), oldest first; with `viewer`, only those that user can see."""
        user = viewer.user if isinstance(viewer, Member) else viewer
        found = [m for m in self.world.messages.values() if not m.deleted]
        if channel is not None:
            found = [m for m in found if m.channel is channel]
        if user is not None:
            found = [m for m in found if m.visible_for(user)]
        return found

    @property
    def gateway_connected(self) -> bool:
        return self.gateway.connected

    # ---- waiting -------------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Wait until `predicate()` returns something truthy (re-checked on every change); return it.
        Raises TimeoutError after `timeout` seconds."""
        return await self.world.wait_for(predicate, timeout)

    async def wait_for_message(
        self,
        predicate: Callable[[Message], Any],
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        channel: Channel | None = None,
    ) -> Message:
        """The first (oldest) live message matching `predicate`, waiting for it to appear or change."""

        def find() -> Message | None:
            return next((m for m in self.messages(channel) if predicate(m)), None)

        result: Message = await self.wait_for(find, timeout)
        return result

    async def wait_for_bot(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot is connected to the gateway."""
        await self.wait_for(lambda: self.gateway.connected, timeout)

    async def wait_for_commands(self, *names: str, guild: Guild | None = None, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot registered slash commands with these names (globally or for `guild`)."""

        def registered() -> bool:
            have = {cmd["name"] for cmd in self.commands(guild)}
            return all(name in have for name in names)

        await self.wait_for(registered, timeout)

    def listen(self, listener: Listener) -> None:
        """Call `listener(event, subject)` on every change (see `world.Listener` for the events)."""
        self.world.add_listener(listener)

    def unlisten(self, listener: Listener) -> None:
        self.world.remove_listener(listener)

    # ---- faults --------------------------------------------------------------------------------------------

    def inject_error(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        retry_after: float = 0.5,
        times: int = 1,
        is_global: bool = False,
    ) -> InjectedError:
        """Answer the next `times` REST requests matching `method` ("*" for any) and `path_regex` (searched in
        the path under /api/v10, e.g. r"^/webhooks/") with `status`; a 429 carries `retry_after` like
        Discord's. The returned rule's `hits` counts how often it fired."""
        return self.faults.add(
            method, path_regex, status, retry_after=retry_after, times=times, is_global=is_global
        )

    def inject_disconnect(self, method: str, path_regex: str, *, times: int = 1) -> InjectedError:
        """Drop the connection of the next `times` matching REST requests without an answer: the client
        sees a network error (aiohttp's `ServerDisconnectedError`), not an HTTP status."""
        return self.faults.add(method, path_regex, 0, times=times, disconnect=True)

    def hold(self, method: str, path_regex: str, *, multipart: bool = False, apply: bool = False) -> Hold:
        """Hold the next matching REST request (only a multipart one with `multipart`) until
        `hold.release()`: before Discord sees it, or with `apply` after Discord applied it (only the answer
        waits). `hold.reached` is set when a request is held; `hold.release(drop=True)` after killing the
        client never applies a request held before Discord saw it. The server's stop drops every hold."""
        return self.faults.hold(method, path_regex, multipart=multipart, apply=apply)

    async def drop_gateway(self, *, resumable: bool = True) -> None:
        """Close the bot's gateway connection. discord.py reconnects: with `resumable` it RESUMEs and receives
        every dispatch it missed; otherwise its RESUME is refused and it IDENTIFYs again."""
        await self.gateway.drop(resumable=resumable)

    # ---- interactions --------------------------------------------------------------------------------------

    def open_dm(self, user: User | Member) -> Channel:
        """The direct-message channel between the bot and ``user`` (made on first use)."""
        return self.world.dm_channel(user.user if isinstance(user, Member) else user)

    async def slash(
        self, user: User | Member, channel: Channel, command: str, /, *subcommands: str, **options: Any
    ) -> InteractionRecord:
        """Send a slash command as `user` in `channel` (a guild channel, or a DM from `open_dm`). `command` is
        the name with any subcommands ("imagine", "quota set", or "quota", "set"); `options` are checked
        against what the bot registered (in a DM only global commands exist)."""
        actor, member = self._actor(user, channel)
        name, *path = [*command.split(), *subcommands]
        registered = self.world.find_command(channel.guild_id, name)
        guild_id = channel.guild_id if registered.get("guild_id") else None
        data = build_command_data(registered, path, options, guild_id)
        return self._send_interaction(2, actor, member, channel, data, None)

    async def click(self, user: User | Member, message: Message, button: str) -> InteractionRecord:
        """Click a button (by custom_id, or by label / emoji) on `message` as `user`."""
        actor, member = self._actor(user, message.channel)
        if not message.visible_for(actor) or message.deleted:
            raise LookupError(f"{actor.name} cannot see message {message.id}")
        target = next((b for b in message.buttons if b.get("custom_id") == button), None)
        if target is None:
            target = message.button(button)
        if target.get("style") == 5 or "custom_id" not in target:
            raise ValueError(f"button {button!r} is a link, not an interaction")
        if target.get("disabled"):
            raise ValueError(f"button {button!r} is disabled")
        data = {"custom_id": target["custom_id"], "component_type": 2}
        return self._send_interaction(3, actor, member, message.channel, data, message)

    async def select(
        self, user: User | Member, message: Message, custom_id: str, values: Sequence[str]
    ) -> InteractionRecord:
        """Choose ``values`` in the select menu ``custom_id`` on ``message`` as ``user``."""
        actor, member = self._actor(user, message.channel)
        if not message.visible_for(actor) or message.deleted:
            raise LookupError(f"{actor.name} cannot see message {message.id}")
        menu = next((s for s in message.selects if s.get("custom_id") == custom_id), None)
        if menu is None:
            raise LookupError(f"no select {custom_id!r} on message {message.id}")
        offered = {str(option["value"]) for option in menu.get("options", [])}
        if not set(values) <= offered:
            raise ValueError(f"{sorted(set(values) - offered)} are not options of {custom_id!r}")
        low, high = menu.get("min_values", 1), menu.get("max_values", 1)
        if not low <= len(values) <= high:
            raise ValueError(f"{custom_id!r} takes {low} to {high} values")
        data = {"custom_id": custom_id, "component_type": menu.get("type", 3), "values": list(values)}
        return self._send_interaction(3, actor, member, message.channel, data, message)

    async def message_command(self, user: User | Member, message: Message, name: str) -> InteractionRecord:
        """Use the message context-menu command ``name`` (Apps → name) on ``message`` as ``user``."""
        actor, member = self._actor(user, message.channel)
        guild_id = message.channel.guild.id if message.channel.guild is not None else None
        registered = self.world.find_command(guild_id, name, kind=3)
        data: dict[str, Any] = {
            "id": registered["id"],
            "name": name,
            "type": 3,
            "target_id": str(message.id),
            "resolved": {"messages": {str(message.id): message.payload()}},
        }
        if registered.get("guild_id") and guild_id is not None:
            data["guild_id"] = str(guild_id)
        return self._send_interaction(2, actor, member, message.channel, data, None)

    async def submit_modal(
        self, user: User | Member, opened: InteractionRecord, values: dict[str, Any] | None = None
    ) -> InteractionRecord:
        """Submit the modal the bot opened in answer to ``opened``. ``values`` are keyed by an input's
        custom_id (or label): a string for a text input, a list of option values for a select (inside a
        label); an input not given keeps its default."""
        modal = opened.modal
        if modal is None:
            raise LookupError(f"interaction {opened.id} was not answered with a modal")
        given = values or {}

        def filled(component: dict[str, Any], label: str | None) -> dict[str, Any]:
            custom_id = component["custom_id"]
            value = given.get(label or "", given.get(custom_id))
            if component.get("type") == 3:
                chosen = (
                    value
                    if value is not None
                    else [option["value"] for option in component.get("options", []) if option.get("default")]
                )
                return {"type": 3, "custom_id": custom_id, "values": list(chosen)}
            text = value if value is not None else component.get("value") or ""
            if component.get("required", True) and not text:
                raise ValueError(f"text input {custom_id!r} is required")
            return {"type": 4, "custom_id": custom_id, "value": text}

        rows: list[dict[str, Any]] = []
        for row in modal.get("components", []):
            if row.get("type") == 1:
                inputs = [filled(c, c.get("label")) for c in row.get("components", [])]
                rows.append({"type": 1, "components": inputs})
            elif row.get("type") == 18:
                rows.append({"type": 18, "component": filled(row["component"], row.get("label"))})
        actor, member = self._actor(user, opened.channel)
        data = {"custom_id": modal["custom_id"], "components": rows}
        return self._send_interaction(5, actor, member, opened.channel, data, opened.message)

    def upload(self, filename: str, data: bytes, content_type: str = "image/png") -> Attachment:
        """A file ``filename`` a user attaches to a command option (pass it as the option's value)."""
        return self.world.upload(filename, data, content_type)

    def _actor(self, user: User | Member, channel: Channel) -> tuple[User, Member | None]:
        if channel.guild is None:
            actor = user.user if isinstance(user, Member) else user
            if channel.recipient is not actor:
                raise LookupError(f"{actor.name} is not in the DM channel {channel.name!r}")
            return actor, None
        member = user if isinstance(user, Member) else channel.guild.member(user)
        return member.user, member

    def _send_interaction(
        self,
        kind: int,
        user: User,
        member: Member | None,
        channel: Channel,
        data: dict[str, Any],
        message: Message | None,
    ) -> InteractionRecord:
        if self.gateway.current is None:
            raise RuntimeError("the bot has not connected to the gateway yet")
        guild = channel.guild
        record = InteractionRecord(
            id=self.world.ids.next(),
            token=new_token("aW50ZXJhY3Rpb24"),
            type=kind,
            user=user,
            member=member,
            channel=channel,
            data=data,
            message=message,
        )
        self.world.interactions[record.id] = record
        self.world.interactions_by_token[record.token] = record
        bot_permissions = guild.member(self.bot_user).permissions if guild is not None else DM_BOT_PERMISSIONS
        payload = record.payload(application_id=self.application.id, bot_permissions=bot_permissions)
        self._outbox.put_nowait(("INTERACTION_CREATE", payload))
        self.world.emit("interaction_create", record)
        return record

    # ---- gateway plumbing ----------------------------------------------------------------------------------

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        user = self.bot_user.payload()
        user.update(verified=True, mfa_enabled=False, email=None)
        return {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in self.world.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": str(self.application.id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }

    def _guild_payloads(self, intents: int) -> list[dict[str, Any]]:
        members = bool(intents & GUILD_MEMBERS_INTENT)
        return [
            guild.payload(members=members, bot_id=self.bot_user.id) for guild in self.world.guilds.values()
        ]

    def _announce(self, event: str, data: dict[str, Any], *, intent: int = 0) -> None:
        """Tell a connected bot about a change to the world (a bot that identifies later gets GUILD_CREATE),
        if it asked for the `intent` such events need."""
        session = self.gateway.current
        if session is not None and (not intent or session.intents & intent):
            self._outbox.put_nowait((event, data))

    def _forward_to_gateway(self, event: str, subject: Any) -> None:
        if not isinstance(subject, Message) or subject.ephemeral or subject.channel.guild is None:
            return  # DM message events need an intent the bot does not ask for
        session = self.gateway.current
        if session is None or not session.intents & GUILD_MESSAGES_INTENT:
            return
        if event == "message_create":
            self._outbox.put_nowait(("MESSAGE_CREATE", subject.payload()))
        elif event == "message_update":
            self._outbox.put_nowait(("MESSAGE_UPDATE", subject.payload()))
        elif event == "message_delete":
            data = {
                "id": str(subject.id),
                "channel_id": str(subject.channel.id),
                "guild_id": str(subject.channel.guild.id),
            }
            self._outbox.put_nowait(("MESSAGE_DELETE", data))

    async def _pump_dispatches(self) -> None:
        """Send dispatches to the bot one at a time, in the order they happened."""
        while True:
            event, data = await self._outbox.get()
            try:
                await self.gateway.dispatch(event, data)
            except Exception:
                log.exception("could not dispatch %s", event)

    # ---- files ---------------------------------------------------------------------------------------------

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        attachment = self.world.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or attachment.filename != request.match_info["filename"]:
            raise web.HTTPNotFound()
        headers = {"Content-Type": attachment.content_type, "Cache-Control": "public, max-age=31536000"}
        if attachment.content is None and attachment.path is not None:
            return web.FileResponse(attachment.path, headers=headers)
        return web.Response(body=attachment.data, headers=headers)
