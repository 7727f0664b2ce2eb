# imaginebot on Python 3.11 with the same torch as `make install` (the default Linux wheel carries CUDA).
# Build: docker build -t imaginebot .
# Run:   docker run --gpus all --env-file .env -v imaginebot-data:/data imaginebot   (or: docker compose up)
# Without a GPU drop `--gpus all`: the engine then runs on the CPU.
# CI cannot pull images, so `make check-image` runs this file's pip installs in a fresh venv and imports every
# pipeline class the engine uses; keep every install in a `RUN pip install` line.
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    HF_HOME=/data/hf-cache

WORKDIR /app
# torch first (its own pin), then the locked runtime set; dependencies change less often than the code.
COPY requirements/runtime.lock ./requirements/runtime.lock
RUN pip install "torch==${TORCH_VERSION}"
RUN pip install -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
RUN pip install --no-deps .
# /app/data is the volume too, so an .env copied from .env.example (DATA_DIR=./data) keeps its data there.
RUN useradd --create-home --uid 10001 imaginebot \
    && mkdir -p /data && chown imaginebot:imaginebot /data && ln -s /data /app/data

USER imaginebot
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
