# coroutine-web: one process, one thread, one asyncio event loop, a task per connection; it runs
# ASGI 3 applications (the lab's instruments by default).
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/coroutine-web.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/coroutine-web:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.

ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-coroutine-web" \
      org.opencontainers.image.description="socketlab ASGI server: one thread, one event loop, a task per connection"

USER root
# Install only what the base lacks. On socketlab/base everything is present, so this touches no
# network and the image builds with `--network none`; on another base it apt-gets the gaps.
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh

# /app mirrors the repository's layout (services/socketlab, services/www; compose mounts
# configs/), so the relative paths in configs/coroutine-web.toml (root = "services/www",
# app_path entries) mean the same here as in a checkout. Owned by root and only readable by
# `lab`: neither the server nor an application can modify them.
COPY socketlab/ /app/services/socketlab/
COPY www/ /app/services/www/

ENV PYTHONPATH=/app/services \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /app
USER lab

EXPOSE 8081

# The standard library probes itself: no curl needed. /healthz is answered by the server, not
# the application, so the probe works whatever ASGI app is loaded; it goes through the event
# loop, so "healthy" means the loop is turning. No --start-interval: it needs API 1.44, and this
# engine speaks 1.41.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "socketlab.healthcheck", "http://127.0.0.1:8081/healthz"]

# The server is PID 1 (exec form, no shell, no init): SIGTERM reaches the loop's handler, which
# stops accepting, closes idle keep-alive connections, lets requests in flight finish
# (graceful_timeout, 12 s), runs the application's lifespan shutdown and exits 0. Only host and
# port are fixed here; every other setting comes from the TOML file named by SOCKETLAB_CONFIG
# (compose mounts configs/coroutine-web.toml and sets it) or SOCKETLAB_* variables.
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.coroutine_web", "--host", "0.0.0.0", "--port", "8081"]
