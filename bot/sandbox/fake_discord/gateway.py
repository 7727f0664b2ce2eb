"""The gateway: a websocket speaking Discord's v10 protocol in JSON text frames.

HELLO → IDENTIFY → READY + GUILD_CREATE per guild; heartbeats are acknowledged; RESUME replays every dispatch
the client missed and ends with RESUMED; an unknown or invalidated session gets INVALID_SESSION so the client
identifies again. Dispatches sent while the client is away stay in the session's buffer until it resumes.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_AUTHENTICATION_FAILED = 4004
REPLAY_BUFFER = 5000
GUILD_MEMBERS_INTENT = 1 << 1


@dataclass
class GatewaySession:
    id: str
    intents: int
    sequence: int = 0
    ws: web.WebSocketResponse | None = None
    resumable: bool = True
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    async def dispatch(self, event: str, data: Any) -> None:
        self.sequence += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": self.sequence, "d": data}
        self.buffer.append(frame)
        await self._send(frame)

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self.ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            log.debug("gateway send failed; frame %s stays buffered", frame.get("s"))


@dataclass
class GatewayCounters:
    identifies: int = 0
    resumes: int = 0
    connections: int = 0
    heartbeats: int = 0


class Gateway:
    """Accepts gateway websockets. `ready_payload` builds READY's data, `guild_payloads(intents)` the
    GUILD_CREATEs."""

    def __init__(
        self,
        *,
        token: Callable[[], str],
        ready_payload: Callable[[GatewaySession], dict[str, Any]],
        guild_payloads: Callable[[int], list[dict[str, Any]]],
        heartbeat_interval_ms: int = 41_250,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._token = token
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._on_change = on_change
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self.counters = GatewayCounters()
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def connected(self) -> bool:
        return self.current is not None and self.current.connected

    async def dispatch(self, event: str, data: Any) -> bool:
        """Send a dispatch to the bot's current session; False if no bot ever identified."""
        session = self.current
        if session is None:
            return False
        await session.dispatch(event, data)
        return True

    async def drop(self, *, resumable: bool = True, code: int = CLOSE_UNKNOWN_ERROR) -> None:
        """Close the bot's websocket. With `resumable=False` the session is forgotten, so the client's RESUME
        is refused with INVALID_SESSION and it must IDENTIFY again (dispatches in between are lost)."""
        session = self.current
        if session is None or session.ws is None:
            raise RuntimeError("no gateway connection to drop")
        ws, session.ws = session.ws, None
        if not resumable:
            session.resumable = False
            self.sessions.pop(session.id, None)
        await ws.close(code=code, message=b"dropped by the test server")
        self._on_change()

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"server shutting down")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.counters.connections += 1
        session: GatewaySession | None = None
        try:
            await ws.send_str(
                json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            )
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        await ws.close(code=4002, message=b"binary frames are not accepted")
                    continue
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    await ws.close(code=4002, message=b"decode error")
                    break
                session = await self._handle_frame(ws, frame, session)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
            self._on_change()
        return ws

    async def _handle_frame(
        self, ws: web.WebSocketResponse, frame: dict[str, Any], session: GatewaySession | None
    ) -> GatewaySession | None:
        op = frame.get("op")
        data: Any = frame.get("d")
        if op == OP_HEARTBEAT:
            self.counters.heartbeats += 1
            await ws.send_str(json.dumps({"op": OP_HEARTBEAT_ACK}))
        elif op == OP_IDENTIFY:
            if not self._token_ok(data):
                await ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return None
            return await self._identify(ws, data)
        elif op == OP_RESUME:
            if not self._token_ok(data):
                await ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return None
            return await self._resume(ws, data)
        elif op == OP_REQUEST_MEMBERS and session is not None:
            await self._send_member_chunks(session, data)
        elif op in (OP_PRESENCE, 4):
            pass
        else:
            log.debug("gateway: ignoring op %s", op)
        return session

    def _token_ok(self, data: Any) -> bool:
        return isinstance(data, dict) and data.get("token") == self._token()

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession:
        if self.current is not None and self.current.ws is not None and self.current.ws is not ws:
            # A new client took over (e.g. the bot restarted): the old socket goes away, as on Discord.
            old = self.current.ws
            self.current.ws = None
            await old.close(code=CLOSE_UNKNOWN_ERROR, message=b"session replaced")
        session = GatewaySession(id=secrets.token_hex(16), intents=int(data.get("intents", 0)), ws=ws)
        self.sessions[session.id] = session
        self.current = session
        self.counters.identifies += 1
        await session.dispatch("READY", self._ready_payload(session))
        for guild in self._guild_payloads(session.intents):
            await session.dispatch("GUILD_CREATE", guild)
        self._on_change()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.resumable:
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return None
        last_seen = int(data.get("seq") or 0)
        session.ws = ws
        self.current = session
        self.counters.resumes += 1
        for frame in list(session.buffer):
            if frame["s"] > last_seen:
                await session._send(frame)
        await session.dispatch("RESUMED", {})
        self._on_change()
        return session

    async def _send_member_chunks(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild_id = str(data.get("guild_id"))
        for guild in self._guild_payloads(GUILD_MEMBERS_INTENT):
            if guild["id"] == guild_id:
                chunk = {
                    "guild_id": guild_id,
                    "members": guild["members"],
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "not_found": [],
                }
                if data.get("nonce"):
                    chunk["nonce"] = data["nonce"]
                await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
