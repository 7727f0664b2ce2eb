"""The in-process engine: diffusers pipelines on a worker thread (torch is imported on that thread)."""

from engine.local.engine import LocalEngine

__all__ = ["LocalEngine"]
