# grader: the checker of `make grade`. It runs one kind's checks against a learner's program
# from a container of its own on the program's network (services/socketlab/grader/).
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/grader.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/grader:latest .
# or `make image-grader` (also part of `make images`) from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.
#
# COPY only: the checker is standard-library Python, and socketlab/base has python3 and `lab`.
# The host side (`python3 -m socketlab.grader`, which builds and starts containers) never runs in
# here: this image never sees the Docker socket.

ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-grader" \
      org.opencontainers.image.description="socketlab grader: checks a learner's socket program over the wire"

COPY socketlab/ /opt/socketlab/socketlab/

ENV PYTHONPATH=/opt/socketlab \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /tmp
USER lab

# A one-shot program: it prints its verdict as JSON on stdout and exits; no port, no healthcheck.
ENTRYPOINT ["python3", "-m", "socketlab.grader.checker"]
CMD ["--help"]
