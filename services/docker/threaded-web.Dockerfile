# threaded-web: the static HTTP/1.1 server, a thread per connection.
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/threaded-web.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/threaded-web:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.

# socketlab/base is made from Debian packages by services/base/build-base.sh (`make base`); with
# a registry, BASE_IMAGE=python:3.12-slim works too (the guarded install below fills the gaps).
ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-threaded-web" \
      org.opencontainers.image.description="socketlab static HTTP/1.1 server, one thread per connection"

USER root
# Install only what the base lacks. On socketlab/base everything is present, so this touches no
# network and the image builds with `--network none`; on another base it apt-gets the gaps.
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh

# Code and site are owned by root and only readable by `lab`: the server cannot modify them.
COPY socketlab/ /opt/socketlab/socketlab/
COPY www/ /srv/www/

ENV PYTHONPATH=/opt/socketlab \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /srv/www
USER lab

EXPOSE 8080

# The standard library probes itself: no curl needed, and a non-2xx or no answer within 3 s is a
# failure with a one-line reason (see `docker inspect --format '{{json .State.Health}}'`).
# No --start-interval: it needs API 1.44, and this engine speaks 1.41.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-m", "socketlab.healthcheck", "http://127.0.0.1:8080/healthz"]

# The server is PID 1 (exec form, no shell, no init) and finishes in-flight requests on SIGTERM.
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.threaded_web", "--host", "0.0.0.0", "--port", "8080", "--root", "/srv/www"]
