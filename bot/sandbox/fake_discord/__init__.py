"""A Discord-compatible server on 127.0.0.1 for the real, unmodified discord.py client.

It speaks REST API v10 (under `/api/v10`) and the v10 gateway (a websocket, JSON text frames) well enough for
a bot with slash commands, buttons, interaction follow-ups with files and message edits, and it serves
uploaded attachments over HTTP. The end-to-end tests and the local sandbox both run on it.

- REST: `users/@me`, `oauth2/applications/@me`, `gateway/bot` (answers with this server's websocket URL),
  global and guild command sync (stored), interaction callbacks (4 message, 5 deferred, 6 deferred update,
  7 update message; answered with the `interaction` / `resource` JSON discord.py 2.7 reads), webhook
  follow-ups (POST, GET/PATCH/DELETE of `@original` or a follow-up; JSON, or multipart with `payload_json`
  and `files[n]`), channel messages (POST/GET/PATCH/DELETE, replies through `message_reference`). JSON
  answers carry `Content-Type: application/json` exactly.
- Discord's rules are enforced: 2000 characters, 5 rows of 5 components, `custom_id` of 100 characters at
  most, the guild's attachment size limit, the 3-second acknowledgement deadline (`ack_deadline`), one
  callback per interaction, the first follow-up after a defer replacing the "thinking" message, and
  interaction tokens that expire (after 15 minutes, or at once with `InteractionRecord.expire_token()`;
  the webhook then answers 401 "Invalid Webhook Token").
- Gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE (channels, roles, the bot's member; every member with the
  members intent), heartbeat ACKs, RESUME -> replay of missed dispatches + RESUMED (INVALID_SESSION for a
  session that cannot resume), INTERACTION_CREATE for slash commands (options, subcommands,
  `member.permissions`, roles, `app_permissions`, `attachment_size_limit`) and buttons (`custom_id`, the
  message), MESSAGE_* events with the guild messages intent.
- Faults: `inject_error()` answers the next matching request with a 429 (`retry_after` and a `Via` header,
  as Discord does) or any other status; `drop_gateway()` closes the websocket (resumable or not).
- Direct messages: `open_dm(user)` gives the bot's DM channel with a user (the bot opens it with
  `POST users/@me/channels`); `slash`/`click` there send interactions without a guild (`user` instead of
  `member`; only global commands exist). A user with `dms_closed` refuses the bot's DMs (403, code 50007).
- Mentions: each message keeps the `allowed_mentions` it was sent with, and `Message.pinged` /
  `pinged_everyone` say whom its creation notified (as Discord decides; edits notify nobody).
- Users see what Discord would show them: an ephemeral message is visible only to the user whose interaction
  created it (`Message.visible_for(user)`); every edit keeps the previous state in `Message.revisions`.

Example::

    async with FakeDiscord() as fake:
        guild = fake.add_guild("Test server")
        channel = fake.add_channel(guild, "imagine")
        admins = fake.add_role(guild, "Admins", permissions=MANAGE_GUILD)
        alice = fake.add_member(guild, "alice", roles=[admins])
        bob = fake.add_member(guild, "bob")

        discord.http.Route.BASE = fake.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        task = asyncio.create_task(my_bot.start(fake.token))
        await fake.wait_for_commands("imagine", guild=guild)

        interaction = await fake.slash(alice, channel, "imagine", prompt="a red circle --ar 3:2")
        await interaction.wait_acked(timeout=3)  # interaction.ack_latency, interaction.ack.type
        grid = await fake.wait_for_message(lambda m: "U1" in m.button_labels, timeout=60)
        assert grid.attachments[0].data.startswith(b"\\x89PNG")
        upscale = await fake.click(bob, grid, "U2")  # by label, emoji or custom_id

        fake.inject_error("POST", r"^/webhooks/", 429, retry_after=0.2)  # the next follow-up
        await fake.drop_gateway()  # discord.py resumes; missed dispatches are replayed
        await fake.wait_for(lambda: fake.gateway_connected, timeout=10)
        refusal = await fake.slash(bob, channel, "quota", "set", user=alice, amount=3)  # or "quota set"

Objects: `Guild`, `Channel`, `Role`, `User`, `Member`, `Message`, `Attachment` (`.data` bytes, an HTTP
`.url`), `InteractionRecord` (`callbacks`, `ack_latency`, `original`, `followups`, `messages`),
`RequestRecord` (every REST call in `fake.requests`; calls to routes this server lacks are also in
`fake.unhandled_requests`, and its own failures in `fake.server_errors`).
"""

from .faults import InjectedError
from .interactions import Callback, CallbackType, InteractionRecord
from .model import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    EVERYONE_DEFAULT,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    SEND_MESSAGES,
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    MessageRevision,
    Role,
    User,
)
from .rest import RequestRecord
from .server import FakeDiscord

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "EVERYONE_DEFAULT",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "SEND_MESSAGES",
    "Attachment",
    "Callback",
    "CallbackType",
    "Channel",
    "FakeDiscord",
    "Guild",
    "InjectedError",
    "InteractionRecord",
    "Member",
    "Message",
    "MessageRevision",
    "RequestRecord",
    "Role",
    "User",
]
