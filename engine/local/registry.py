"""Model names → where to load them from, and what is known about them before loading (torch-free).

Names: ``default`` is ``<models_dir>/default``; any other folder in ``models_dir`` holding a diffusers
``model_index.json`` is available by its folder name; the configured model (``ENGINE_MODEL``) may also be a
directory path or a hub id. Requests may only name models from this list, never arbitrary paths.
An optional ``imaginebot.json`` in a model folder gives ``native_size``, ``default_steps`` and
``default_guidance``; otherwise they come from the component configs and the family's defaults
(:mod:`engine.local.capabilities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.api import ModelInfo
from engine.errors import UnknownModel
from engine.local.capabilities import Description, describe_folder
from engine.names import display_name

DEFAULT_NAME = "default"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    source: str  # a local folder, or a hub id
    local: bool


def _is_model_dir(path: Path) -> bool:
    return (path / "model_index.json").is_file()


def model_defaults(folder: Path | None) -> tuple[int, int, float]:
    """``(native_size, default_steps, default_guidance)`` of a model folder (see :mod:`.capabilities`)."""
    description = describe_folder(folder)
    return description.native_size, description.default_steps, description.default_guidance


class ModelRegistry:
    """Resolves model names; cheap file-system checks only, safe to call on the event loop."""

    def __init__(self, configured: str | None, models_dir: Path) -> None:
        self.configured = (configured or DEFAULT_NAME).strip() or DEFAULT_NAME
        self.models_dir = models_dir

    def names(self) -> list[str]:
        found = [self.configured]
        if self.models_dir.is_dir():
            found += sorted(p.name for p in self.models_dir.iterdir() if p.is_dir() and _is_model_dir(p))
        return list(dict.fromkeys(found))

    def resolve(self, requested: str | None) -> ModelSpec:
        """The spec for ``requested`` (``None`` → the configured model). Raises :class:`UnknownModel`."""
        shown = display_name(self.configured)  # what /info and errors call the configured model
        if requested == shown and not _is_model_dir(self.models_dir / shown):
            requested = self.configured
        name = self.configured if requested in (None, "", self.configured) else requested
        assert name is not None
        if name == self.configured:
            return self._configured_spec()
        if name == DEFAULT_NAME or ("/" not in name and "\\" not in name and name not in ("", ".", "..")):
            folder = self.models_dir / name
            if _is_model_dir(folder):
                return ModelSpec(name=name, source=str(folder), local=True)
        available = ", ".join(f"`{display_name(n)}`" for n in self.names())
        raise UnknownModel(f"Unknown model `{display_name(name)}`. Available: {available}.")

    def _configured_spec(self) -> ModelSpec:
        name = self.configured
        if name == DEFAULT_NAME:
            folder = self.models_dir / DEFAULT_NAME
            if not _is_model_dir(folder):
                raise UnknownModel(
                    "The default model is not installed (engine/models/default); "
                    "set ENGINE_MODEL to a diffusers model folder."
                )
            return ModelSpec(name=name, source=str(folder), local=True)
        path = Path(name).expanduser()
        if path.is_dir():
            if not _is_model_dir(path):
                raise UnknownModel(
                    f"ENGINE_MODEL `{display_name(name)}` is a folder without a diffusers model_index.json."
                )
            return ModelSpec(name=name, source=str(path), local=True)
        if _is_model_dir(self.models_dir / name):
            return ModelSpec(name=name, source=str(self.models_dir / name), local=True)
        return ModelSpec(name=name, source=name, local=False)

    def upscaler(self, configured: str | None) -> ModelSpec | None:
        """The spec of ``ENGINE_UPSCALER`` (a folder, a folder name in the models directory, or a hub id),
        or ``None`` when none is configured."""
        name = (configured or "").strip()
        if not name:
            return None
        path = Path(name).expanduser()
        for folder in (path, self.models_dir / name):
            if _is_model_dir(folder):
                return ModelSpec(name=name, source=str(folder), local=True)
        if path.is_dir():
            raise UnknownModel(
                f"ENGINE_UPSCALER `{display_name(name)}` is a folder without a diffusers model_index.json."
            )
        return ModelSpec(name=name, source=name, local=False)

    def info(self, spec: ModelSpec) -> ModelInfo:
        """What the model folder's files say the model can do (nothing is loaded)."""
        return model_info(
            spec, describe_folder(Path(spec.source) if spec.local else None, display_name(spec.source))
        )


def model_info(spec: ModelSpec, description: Description) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        native_size=description.native_size,
        default_steps=description.default_steps,
        default_guidance=description.default_guidance,
        source=spec.source,
        capabilities=description.capabilities,
    )
