"""How a model is named to users: never a filesystem path (``ENGINE_MODEL`` may be one), torch-free."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath


def display_name(name: str) -> str:
    """``name`` as users may see it: a folder path becomes the folder's name; a hub id (``owner/model``) or
    a plain name stays as it is. ``/srv/models/sdxl-turbo/`` → ``sdxl-turbo``; ``stabilityai/sdxl`` stays."""
    text = name.strip()
    if "\\" in text or (len(text) > 1 and text[1] == ":"):
        return PureWindowsPath(text).name or text
    hub_id = text.count("/") == 1 and not text.startswith(("/", ".", "~")) and not text.endswith("/")
    if hub_id or "/" not in text:
        return text
    return PurePosixPath(text.rstrip("/")).name or "model"
