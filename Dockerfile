# imaginebot on a CUDA-capable PyTorch base. Build: docker build -t imaginebot .
# Run:   docker run --gpus all --env-file .env -v imaginebot-data:/data imaginebot
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    HF_HOME=/data/hf-cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY engine ./engine
# torch comes from the base image; the range in pyproject.toml keeps pip from replacing it.
RUN pip install . \
    && useradd --create-home --uid 10001 imaginebot \
    && mkdir -p /data && chown imaginebot:imaginebot /data

USER imaginebot
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
