# browser: the lab's scripted visitor. It loads pages from the web servers like a browser does
# (keep-alive, 6 connections per host, page resources, redirects, cookies) on a schedule and
# prints a Network-panel report of every request to its log (`make logs`).
#
# Build context: services/  (see services/.dockerignore)
#   DOCKER_BUILDKIT=0 docker build --network none -f docker/browser.Dockerfile \
#       --build-arg BASE_IMAGE=socketlab/base:latest -t socketlab/browser:latest .
# or simply `make images` from the repository root.
#
# Classic builder on purpose: no `# syntax=` line, RUN --mount, heredocs or COPY --chmod, because
# BuildKit pulls its frontend image and no registry is reachable here.

# socketlab/base is made from Debian packages by services/base/build-base.sh (`make base`); with
# a registry, BASE_IMAGE=python:3.12-slim works too (the guarded install below fills the gaps).
ARG BASE_IMAGE=socketlab/base:latest
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="socketlab-browser" \
      org.opencontainers.image.description="socketlab scripted browser-like HTTP/1.1 client with Network-panel reports"

USER root
# The browser itself needs only python3; the rest are the lab user's tools for exercises run
# from this container (ss to watch its connections, tcpdump, dig, curl to compare). On
# socketlab/base all are present and this touches no network (built with --network none).
COPY docker/lab-tools.sh /usr/local/lib/socketlab/lab-tools.sh
RUN sh /usr/local/lib/socketlab/lab-tools.sh && mkdir -p /etc/socketlab/browser

# Code owned by root and only readable by `lab`. The scenarios are not baked in: compose mounts
# configs/browser/ read-only at /etc/socketlab/browser, so editing a visit needs no rebuild.
COPY socketlab/ /opt/socketlab/socketlab/

ENV PYTHONPATH=/opt/socketlab \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
WORKDIR /tmp
USER lab

# No EXPOSE: a client listens on nothing.

# A client has no port to probe, so the healthcheck asks whether the visit loop is alive: the
# browser rewrites /tmp/browser.heartbeat after every page and visit, and the probe fails when
# that file is older than 120 s (one page's total deadline, 60 s, plus the 20 s interval, plus
# margin; keep it above SOCKETLAB_TOTAL_TIMEOUT + SOCKETLAB_INTERVAL if you raise those). Pages
# that fail because a server is down still beat: that is the server's problem.
# No --start-interval: it needs API 1.44, and this engine speaks 1.41.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "socketlab.browser.liveness", "/tmp/browser.heartbeat", "120"]

# The browser is PID 1 (exec form, no shell, no init): on SIGTERM it cancels the requests in
# flight and exits within a second. The schedule is in the command, not in ENV, so that a
# one-off `docker compose exec browser python3 -m socketlab.browser URL` (which inherits the
# container's environment) loads its page once and exits: a visit every 20 s, start to start,
# for at most a million visits (about 230 days), with the heartbeat the healthcheck reads.
# For a one-off load from outside give your own command, e.g.
#   docker run --rm --network labnet socketlab/browser python3 -m socketlab.browser http://threaded-web:8080/
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "socketlab.browser", "--scenario", "/etc/socketlab/browser", \
     "--repeat", "1000000", "--interval", "20", "--heartbeat", "/tmp/browser.heartbeat"]
