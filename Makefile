# djangostack: two commands matter. `make up` builds the whole stack on the local lab;
# `make test` runs every test. Both run `make setup` first, which is idempotent.
SHELL := /bin/bash
export LANG := C.UTF-8
export PATH := $(CURDIR)/.venv/bin:$(PATH)
ANSIBLE_PLAYBOOK := ansible-playbook

.PHONY: help setup up test lint down drills status loadtest compare capacity rehearsal
help:
	@echo "make up     build the lab and deploy the stack on it, then a smoke check"
	@echo "make test   the whole test suite (lint, Molecule, collection, lab), timed per phase"
	@echo "make down   remove the lab's containers and networks, stop the AWS emulator"
	@echo "make rehearsal  the EC2 path without AWS: provision in a local AWS emulator, site.yml over aws_ec2 onto the lab"
	@echo "make drills the failure drills at full length on the lab (make up first)"
	@echo "make status one table of the live stack (playbooks/status.yml)"
	@echo "make lock   the sample app's hashed lock, resolved for the web hosts' Python and platform (the lab up, or -i an inventory)"
	@echo "make loadtest  locust against TARGET=front|lb|web1 (USERS, DURATION seconds), a report folder"
	@echo "make compare   the same load against web1, lb and front: one table, one plot"
	@echo "make capacity  wrk against each tier: web1 uncached, nginx static, Varnish cached"
	@echo "make lint   the lint phase of make test alone"
	@echo "make setup  install what the machine needs (idempotent; up and test run it)"

setup:
	@bash scripts/setup.sh

up:
	@bash scripts/up.sh

# PHASES narrows the suite, e.g. `make test PHASES="lint molecule"`.
test:
	@bash scripts/test.sh $(PHASES)

lint:
	@bash scripts/test.sh lint

# RUNS repeats each drill, e.g. `make drills RUNS=3`.
drills: setup
	@bash scripts/drills.sh $(RUNS)

# A bounded load on the lab (127.0.0.1 only), e.g. `make loadtest TARGET=web1 USERS=50 DURATION=60`.
TARGET ?= front
USERS ?= 50
DURATION ?= 60
loadtest: setup
	python -m harness.loadtest.run --target $(TARGET) --users $(USERS) --seconds $(DURATION)

compare: setup
	python -m harness.loadtest.compare --users $(USERS) --seconds $(DURATION)

# wrk against each tier (web1 uncached, lb static, front cached), CAPACITY_SECONDS each.
CAPACITY_SECONDS ?= 10
capacity: setup
	python -m harness.loadtest.capacity --seconds $(CAPACITY_SECONDS)

status: setup
	$(ANSIBLE_PLAYBOOK) playbooks/status.yml

# The sample app's requirements.txt from its requirements.in, for the Python and platform the
# web hosts run (docs/playbooks/lock.md); the lab must be up to be asked.
.PHONY: lock
lock: setup
	$(ANSIBLE_PLAYBOOK) playbooks/lock.yml

rehearsal:
	@bash scripts/rehearsal.sh

down: setup
	$(ANSIBLE_PLAYBOOK) lab/lab.yml -e lab_state=absent
	@bash scripts/aws_emulator.sh stop
