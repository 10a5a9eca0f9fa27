# udp-chat: the multi-user UDP chat relay, and its terminal client in the same image.
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/udp-chat.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/udp-chat:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.
#
# netcat-openbsd (from lab-tools.sh, already in socketlab/base) lets `nc -u udp-chat 9999` speak
# the protocol by hand from any lab container.

ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-udp-chat" \
      org.opencontainers.image.description="socketlab multi-user UDP chat relay and terminal client"

USER root
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh

# Code owned by root and only readable by `lab`: the server cannot modify itself.
COPY socketlab/ /opt/socketlab/socketlab/

ENV PYTHONPATH=/opt/socketlab \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /home/lab
USER lab

EXPOSE 9999/udp

# The stdlib probe sends the datagram PING and expects PONG back. The server answers PING from
# any address with exactly PONG (never more bytes than the request: no amplification), without
# making the prober a member. No --start-interval: it needs API 1.44, this engine speaks 1.41.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "socketlab.healthcheck", "udp://127.0.0.1:9999"]

# The server is PID 1 (exec form, no shell, no init): SIGTERM reaches it, it sends BYE shutdown
# to every member and exits 0. Only host and port are fixed here; every other setting comes from
# SOCKETLAB_* variables or the TOML file named by SOCKETLAB_CONFIG (flags would override both).
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.udp_chat", "--host", "0.0.0.0", "--port", "9999"]
