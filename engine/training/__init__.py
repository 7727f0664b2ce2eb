"""The training pipeline behind the default model (``python -m engine.training``)."""

#: The stages of ``all``, in order (see :mod:`engine.training.pipeline` for what each reads and writes).
STAGE_ORDER = (
    "data",
    "clip",
    "autoencoder",
    "latents",
    "diffusion",
    "refine",
    "decoder",
    "export",
    "evaluate",
)
