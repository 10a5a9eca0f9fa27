# multiprocess-web: the process-based WSGI server (fork or prefork) and the lab's dynamic site.
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/multiprocess-web.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/multiprocess-web:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.

# socketlab/base is made from Debian packages by services/base/build-base.sh (`make base`); with
# a registry, BASE_IMAGE=python:3.12-slim works too (the guarded install below fills the gaps).
ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-multiprocess-web" \
      org.opencontainers.image.description="socketlab WSGI server: a process per connection or a pre-forked pool"

USER root
# Install only what the base lacks. On socketlab/base everything is present, so this touches no
# network and the image builds with `--network none`; on another base it apt-gets the gaps.
# procps (ps) matters here: `docker exec ... ps -ef --forest` shows the parent and its workers.
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh

# /app mirrors the repository's layout (services/socketlab, services/www; compose mounts
# configs/), so the relative paths in configs/multiprocess-web.toml (static_root =
# "services/www", app_path entries) mean the same here as in a checkout. Owned by root and only
# readable by `lab`: neither the server nor an application can modify them.
COPY socketlab/ /app/services/socketlab/
COPY www/ /app/services/www/

ENV PYTHONPATH=/app/services \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /app
USER lab

EXPOSE 8888

# The standard library probes itself: no curl needed. /healthz is answered by the server, not
# the application, so the probe works whatever WSGI app is loaded; it goes through a worker, so
# "healthy" means a worker accepted and answered. No --start-interval: it needs API 1.44, and
# this engine speaks 1.41.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "socketlab.healthcheck", "http://127.0.0.1:8888/healthz"]

# The server is PID 1 (exec form, no shell, no init): SIGTERM reaches the supervising parent,
# which stops accepting, lets requests in flight finish (graceful_timeout, 12 s) and exits 0.
# As PID 1 it also reaps any orphan that lands on it. Only host and port are fixed here (they
# are the image's contract with EXPOSE, the probe and compose's port mapping); every other
# setting comes from the TOML file named by SOCKETLAB_CONFIG (compose mounts
# configs/multiprocess-web.toml and sets it) or SOCKETLAB_* variables. Without a file, the
# built-in defaults apply, and they are the file's values.
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.multiprocess_web", "--host", "0.0.0.0", "--port", "8888"]
