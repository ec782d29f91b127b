# syntax=docker/dockerfile:1
# authsvc container image.
#   docker build -t authsvc:local .        (`make image` does this with podman: tools/image/build.sh)
#   docker run --read-only --tmpfs /tmp -p 127.0.0.1:8080:8080 -e AUTHSVC_SESSION_KEY=... \
#       -e AUTHSVC_INTROSPECTION_TOKENS=name:token -e AUTHSVC_AUDIT_KEY=... -e MONGODB_URL=... authsvc:local
# Each secret may come from a file instead: <NAME>_FILE=/run/secrets/... (deploy/container/entrypoint.sh).
# The image runs in production mode (AUTHSVC_ENV=production), which refuses to start without a session or audit key, with
# insecure cookies, on the memory backend, or with introspection enabled but no service tokens.
# README.md "Running it as a container" walks through it (tests/e2e/test_image.py follows it); docker-compose.yml shows
# the whole set-up: MongoDB, two authsvc replicas, nginx in front of a sample app, and a mail catcher.

# Both stages use the same base, so the venv built in the first works unchanged in the second (same Python at the
# same path). Pin a digest (python:3.11-slim@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: compilers and headers, in case a dependency has no wheel for the platform -------------------------
FROM ${PYTHON_IMAGE} AS builder

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# The dependencies first, exactly as locked (versions and sha256 hashes, uvloop included: [fast]), in a layer that
# only a lock change invalidates; then the package itself, a regular (non-editable) install with no further
# dependency. pip writes the .pyc files here, so the read-only, PYTHONDONTWRITEBYTECODE runtime never needs to.
COPY requirements/runtime.txt ./requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml ./
COPY authsvc ./authsvc
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps .

# --- runtime: no compilers, no pip cache, no source tree; a non-root user ----------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="authsvc" \
      org.opencontainers.image.description="Session-based login service with forward-auth for gateways"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUTHSVC_ENV=production \
    AUTHSVC_CONFIG_DIR=/app \
    PATH="/opt/venv/bin:${PATH}"

# A fixed numeric id, so that Kubernetes' runAsNonRoot can verify it and volume permissions are predictable.
RUN groupadd --system --gid 10001 authsvc \
    && useradd --system --uid 10001 --gid authsvc --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin authsvc

COPY --from=builder /opt/venv /opt/venv
COPY deploy/container/entrypoint.sh /usr/local/bin/authsvc-entrypoint

WORKDIR /app
# config.yaml (the documented defaults) and the environment overlays beside it (config.production.yaml, ...).
# Owned by root and not writable by the service user.
COPY config.yaml config.*.yaml ./

USER 10001:10001
EXPOSE 8080

# python:3.11-slim has no curl; urlopen raises on a refused connection or a non-2xx answer, so the exit code says it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

# Exec form, and the entrypoint execs: authsvc is PID 1 and gets SIGTERM itself; it drains (server.drain_seconds, 5 s)
# and lets in-flight requests finish (server.shutdown_timeout, 10 s): stop it with a grace period of 20 s
# (docker stop -t 20, compose's stop_grace_period; Docker's default of 10 s would cut in-flight requests). Nothing writes to the root filesystem: run it read-only, with a tmpfs on /tmp.
# One worker process per CPU the container may use (server.workers: auto in config.production.yaml; SO_REUSEPORT on
# every port; AUTHSVC__SERVER__WORKERS=1 for one): PID 1 supervises them and passes SIGTERM on.
ENTRYPOINT ["authsvc-entrypoint"]
CMD ["authsvc", "serve", "--host", "0.0.0.0", "--port", "8080"]
