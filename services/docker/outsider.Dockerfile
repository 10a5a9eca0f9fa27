# outsider: a host that is NOT in the lab (alone on othernet), for the isolation exercise.
#
# Build context: services/   (make images, or `docker compose build outsider`)
# On socketlab/base this adds nothing: the base already has the lab user's tools and `lab`.
# With a registry, BASE_IMAGE=python:3.12-slim works too: lab-tools.sh installs what it lacks.
# Classic builder on purpose (see threaded-web.Dockerfile).
ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-outsider" \
      org.opencontainers.image.description="socketlab: a host outside the lab's network"

USER root
# The same tools and `lab` user as every image (nothing to do on socketlab/base).
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh

ENV PYTHONUNBUFFERED=1 LANG=C.UTF-8
USER lab
# compose.yaml gives the command (an idle PID 1 that exits at once on SIGTERM) and the
# healthcheck; this default only keeps `docker run` of the image from exiting at once.
CMD ["python3", "-c", "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()"]
