# One image for every role: `serve` (the default), `worker` and `migrate`; the command chooses.
#   docker build -t nubo .
#   docker run nubo migrate | docker run -p 8000:8000 nubo serve | docker run nubo worker
# BASE_IMAGE may be any Debian-like image whose python3 is 3.11 or newer, with venv (CI builds
# from a bootstrapped Debian because it reaches no registry).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# uv comes from PyPI, so building needs no registry but the base image's.
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_NO_CACHE=1
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project
# The project is installed editable: migrations and alembic.ini are found beside src/.
COPY alembic.ini ./
COPY migrations ./migrations
COPY docs/authz.md ./docs/authz.md
COPY src ./src
RUN /opt/uv/bin/uv sync --locked --no-dev

FROM ${BASE_IMAGE}
RUN groupadd --gid 10001 nubo \
    && useradd --uid 10001 --gid nubo --home-dir /var/lib/nubo --create-home \
        --shell /usr/sbin/nologin nubo
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NUBO_DATA_DIR=/var/lib/nubo \
    NUBO_HOST=0.0.0.0 \
    NUBO_PORT=8000
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness of `serve`; compose turns it off for `worker` and `migrate`.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('NUBO_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["nubo"]
CMD ["serve"]
