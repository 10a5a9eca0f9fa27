# outsider: a host that is NOT in the lab (alone on othernet), for the isolation exercise.
#
# Build context: services/   (make images, or `docker compose build outsider`)
# On socketlab/base this adds nothing: the base already has the lab user's tools and `lab`.
# With a registry, BASE_IMAGE=python:3.12-slim works too: the guarded install fills the gaps.
# Classic builder on purpose (see threaded-web.Dockerfile).
ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-outsider" \
      org.opencontainers.image.description="socketlab: a host outside the lab's network"

USER root
RUN set -eu; \
    missing=""; \
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"; \
    command -v ip >/dev/null 2>&1      || missing="$missing iproute2"; \
    command -v ping >/dev/null 2>&1    || missing="$missing iputils-ping"; \
    command -v nc >/dev/null 2>&1      || missing="$missing netcat-openbsd"; \
    command -v curl >/dev/null 2>&1    || missing="$missing curl"; \
    command -v dig >/dev/null 2>&1     || missing="$missing dnsutils"; \
    if [ -n "$missing" ]; then \
        echo "installing missing tools:$missing"; \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    id lab >/dev/null 2>&1 || useradd --uid 10001 --create-home --shell /usr/sbin/nologin lab

ENV PYTHONUNBUFFERED=1 LANG=C.UTF-8
USER lab
# compose.yaml gives the command (an idle PID 1 that exits at once on SIGTERM) and the
# healthcheck; this default only keeps `docker run` of the image from exiting at once.
CMD ["python3", "-c", "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()"]
