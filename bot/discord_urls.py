"""Point discord.py at the configured REST base and gateway (Discord's own, a REST proxy or a local server).

discord.py 2.7.1 builds every REST URL (bot-token calls and interaction webhooks alike) from
``discord.http.Route.BASE`` and, without sharding, opens the gateway at
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (and resumes at the ``resume_gateway_url`` READY names).
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def apply_discord_urls(api_base: str, gateway_url: str) -> None:
    """Make every later discord.py client in this process use ``api_base`` and ``gateway_url``."""
    base = api_base.rstrip("/")
    gateway = yarl.URL(gateway_url)
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"DISCORD_API_BASE must be an http(s) URL, got {api_base!r}")
    if gateway.scheme not in ("ws", "wss"):
        raise ValueError(f"DISCORD_GATEWAY_URL must be a ws(s) URL, got {gateway_url!r}")
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
