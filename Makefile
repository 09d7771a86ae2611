# The two commands of the README: `make quickstart` (set up + main job) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export GLOO_SOCKET_IFNAME ?= lo

.PHONY: install quickstart test test-all lint bench clean

install:
	bash scripts/setup.sh

quickstart: install
	$(VENV)/bin/robo-reward quickstart

test: install
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( RANDOM % 100 + 1 ))} $(PY) -m pytest -m "not slow" -q

test-all: install
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( RANDOM % 100 + 1 ))} $(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	$(VENV)/bin/robo-reward bench all

clean:
	rm -rf runs .pytest_cache .ruff_cache
