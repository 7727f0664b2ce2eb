"""Try the bot without Discord: a Discord-compatible server on 127.0.0.1 and a page that looks like a channel.

`python -m bot` (and `make run`) without DISCORD_TOKEN calls `run_sandbox(settings)`: it starts the built-in
server (`bot.sandbox.fake_discord.FakeDiscord`, the same one the end-to-end tests run on) with a "Sandbox"
server, an #imagine channel, an `admin` (Admin role: Manage Server) and a `member`; serves the page on
http://127.0.0.1:SANDBOX_PORT/ (8765 by default, printed at start, opened in the browser on a desktop); and
runs the real bot against it until Ctrl+C. Typing `/imagine a red circle --ar 3:2`, `/info` or
`/quota show` in the page sends a real interaction over the gateway; buttons send component interactions;
ephemeral replies show only for the user who caused them; the user switcher shows what each one sees.

Everything stays on this machine and survives restarts: the bot's database and images live in DATA_DIR as
usual, the channel's messages, attachments and ids in DATA_DIR/sandbox.
"""

from bot.sandbox.sandbox import Sandbox, SandboxWorld, run_sandbox

__all__ = ["Sandbox", "SandboxWorld", "run_sandbox"]
