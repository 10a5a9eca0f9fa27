# impair: the lab's impairment relay (TCP and UDP proxy with toxics) and its control API.
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/impair.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/impair:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.

ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-impair" \
      org.opencontainers.image.description="socketlab impairment relay: latency, jitter, bandwidth, loss, resets, slow close, timeout"

USER root
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh && mkdir -p /etc/socketlab

# Code owned by root and only readable by `lab`. The profiles are not baked in: compose mounts
# configs/impair.toml read-only at /etc/socketlab/impair.toml (the default below).
COPY socketlab/ /opt/socketlab/socketlab/

ENV PYTHONPATH=/opt/socketlab \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8 \
    SOCKETLAB_PROFILES=/etc/socketlab/impair.toml
WORKDIR /home/lab
# Unprivileged: a relay needs no capability (its ports are above 1024, it shapes nothing in the
# kernel; kernel shaping runs from a helper container, see scripts/impair.sh).
USER lab

# 8474: the control API (Toxiproxy's port). The proxies' own ports come from the profiles.
EXPOSE 8474

# The control API answers /healthz from the same process as the proxies.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "socketlab.healthcheck", "http://127.0.0.1:8474/healthz"]

# The relay is PID 1 (exec form, no shell, no init): SIGTERM stops it at once.
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.impair", "--host", "0.0.0.0", "--port", "8474"]
