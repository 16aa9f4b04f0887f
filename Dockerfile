# syntax=docker/dockerfile:1
# Opside Integrations Hub: one image for the API (`opside-hub serve`), the workers
# (`opside-hub worker`) and the one-shot migrations (`opside-hub migrate`).
# Build: docker build -t opside-hub .   Run: see docker-compose.yml and the README's "Deploy".

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: resolve the locked dependencies and install the project into /app/.venv ----------
FROM ${PYTHON_IMAGE} AS build
# The same uv as the Makefile's; from PyPI, like every other dependency.
RUN pip install --no-cache-dir uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY src ./src
# Not editable: the virtualenv alone is the application, the sources stay in this stage.
RUN uv sync --frozen --no-dev --no-editable

# -- runtime: the virtualenv on a slim Python, as an unprivileged user -------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 opside \
    && useradd --system --uid 10001 --gid opside --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin opside \
    && mkdir -p /app/data/evidence \
    && chown -R opside:opside /app
WORKDIR /app
COPY --from=build --chown=opside:opside /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    PROVIDER_MODE=live \
    HOST=0.0.0.0 \
    PORT=3000 \
    EVIDENCE_STORAGE_DIR=/app/data/evidence
USER 10001:10001
EXPOSE 3000
# The API's readiness (database, Redis, queue); worker containers turn it off (no HTTP there).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["opside-hub", "serve"]
