# Build and test targets for the qem.replicate collection.
#
# Every test stage runs in a copy of the checkout laid out as
# $(COLLECTIONS_ROOT)/ansible_collections/qem/replicate, because ansible-test and Ansible's
# collection loader find a collection only at such a path. The copy is refreshed by each stage.
#
#   make test          venv, then lint, sanity, units and integration; fails if any stage fails
#   make venv          .venv with requirements-test.txt (re-installed when that file changes)
#   make layout        refresh the collection copy
#   make lint          ansible-lint (production profile, offline), ruff, antsibull-changelog lint,
#                      and a trial `ansible-galaxy collection build` into .build/dist
#   make sanity        ansible-test sanity --local, no ignore file
#   make units         pytest over tests/unit and tests/simulator
#   make integration   pytest over tests/integration (the tests start the QEM simulator)
#   make demo          run the demo against the simulator
#   make bench         run the benchmark and write benchmarks/results.json and results.md
#   make clean         remove .venv, .build and caches

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.requirements-test.stamp

BUILD_DIR ?= $(CURDIR)/.build
COLLECTIONS_ROOT := $(BUILD_DIR)/collections
COLLECTION_DIR := $(COLLECTIONS_ROOT)/ansible_collections/qem/replicate

# pip trusts its own CA list (certifi) unless told otherwise. Where the package index is reached
# through a TLS-intercepting proxy whose CA is only in the system bundle, pip needs --cert.
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
PIP_CERT_OPTION := $(if $(wildcard $(CA_BUNDLE)),--cert $(CA_BUNDLE),)

# Environment of the pytest and ansible commands that run in the copy.
TEST_ENV := PATH="$(BIN):$$PATH" \
	PYTHONPATH="$(COLLECTIONS_ROOT):$(COLLECTION_DIR)/tests" \
	ANSIBLE_COLLECTIONS_PATH="$(COLLECTIONS_ROOT)"

PYTEST := $(BIN)/python -m pytest -ra -p no:cacheprovider --rootdir "$(COLLECTION_DIR)"

.PHONY: test venv layout lint sanity units integration demo bench clean

# `make test` builds the virtual environment, then runs every stage even after one fails, so one
# run reports all failures, and exits non-zero if any stage failed. It prints each stage's time.
# A stage still running after STAGE_TIMEOUT seconds is stopped and counts as failed, so a hung
# test is reported by name well within the CI limit of 90 minutes for the whole run.
TEST_STAGES := lint sanity units integration
STAGE_TIMEOUT ?= 2700

test:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory venv; \
	echo "=== make venv: done in $$(( $$(date +%s) - start )) s"; \
	failed=""; \
	for stage in $(TEST_STAGES); do \
		echo "=== make $$stage"; \
		start=$$(date +%s); \
		if timeout --kill-after=30 $(STAGE_TIMEOUT) $(MAKE) --no-print-directory $$stage; then result=passed; \
		elif [ $$? -eq 124 ]; then result="FAILED (timed out after $(STAGE_TIMEOUT) s)"; failed="$$failed $$stage"; \
		else result=FAILED; failed="$$failed $$stage"; fi; \
		echo "=== make $$stage: $$result in $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed stages:$$failed"; exit 1; fi; \
	echo "make test: all stages passed"

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-test.txt
	test -x "$(BIN)/python" || $(PYTHON) -m venv "$(VENV)"
	"$(BIN)/python" -m pip install --disable-pip-version-check $(PIP_CERT_OPTION) -r requirements-test.txt
	touch "$@"

# tar copies the working tree, including files git does not track yet, without .git and caches.
# The copy is not inside another ansible_collections tree, and has no .git of its own.
layout:
	@rm -rf "$(COLLECTION_DIR)"
	@mkdir -p "$(COLLECTION_DIR)"
	@tar -C "$(CURDIR)" -cf - \
		--exclude=./.git --exclude=./.venv --exclude=./venvs --exclude=./.build \
		--exclude=./tests/output --exclude=./.ansible \
		--exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache --exclude=./.benchmarks --exclude='*.pyc' \
		--exclude='./*.tar.gz' \
		. | tar -C "$(COLLECTION_DIR)" -xf -
	@echo "Collection copy refreshed: $(COLLECTION_DIR)"

# Each linter runs even after another one fails, and the stage fails if any of them failed.
lint: venv layout
	@cd "$(COLLECTION_DIR)"; status=0; \
	echo "ansible-lint --offline"; \
	$(TEST_ENV) "$(BIN)/ansible-lint" --offline --nocolor || status=1; \
	echo "ruff check"; \
	"$(BIN)/ruff" check --no-cache . || status=1; \
	echo "antsibull-changelog lint"; \
	"$(BIN)/antsibull-changelog" lint || status=1; \
	echo "ansible-galaxy collection build"; \
	"$(BIN)/ansible-galaxy" collection build --force --output-path "$(BUILD_DIR)/dist" || status=1; \
	exit $$status

# ansible-test downloads a get-pip.py script from a host outside the package index to bootstrap
# pip in each sanity test virtual environment, unless the script is already in its cache.
# tests/tools/get_pip_offline.py takes its place; the pip version comes from ansible-test itself.
# Without ANSIBLE_TEST_CONTENT_ROOT, ansible-test looks for .git in the parent directories of the
# copy, finds this checkout's, and lists only the files git tracks under .build/: none. With it,
# ansible-test lists the copy's files from the directory tree.
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
PYTHON_VERSION = $(shell "$(BIN)/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ANSIBLE_TEST_PIP_VERSION = $(shell "$(BIN)/python" -c 'import re, ansible_test, pathlib; \
	source = pathlib.Path(ansible_test.__file__).parent.joinpath("_internal", "python_requirements.py").read_text(); \
	print(re.search(r"pip=.([0-9.]+).", source).group(1))')

sanity: venv layout
	mkdir -p "$(ANSIBLE_TEST_CACHE)"
	pip_version="$(ANSIBLE_TEST_PIP_VERSION)"; test -n "$$pip_version"; \
	cp tests/tools/get_pip_offline.py "$(ANSIBLE_TEST_CACHE)/get_pip_$${pip_version//./_}.py"
	cd "$(COLLECTION_DIR)" && PATH="$(BIN):$$PATH" ANSIBLE_TEST_CONTENT_ROOT="$(COLLECTION_DIR)" \
		"$(BIN)/ansible-test" sanity --local --python "$(PYTHON_VERSION)" --color no

# run_pytest DIRS: runs pytest over those of DIRS that exist in the copy.
# A stage whose directories hold no test_*.py file yet is skipped with a notice. Once a test
# file exists, pytest's exit status counts as is, so exit 5 (no test collected) fails the stage.
define run_pytest
	@cd "$(COLLECTION_DIR)" && dirs=""; \
	for dir in $(1); do \
		if [ -d "$$dir" ] && [ -n "$$(find "$$dir" -name 'test_*.py' -print -quit)" ]; then dirs="$$dirs $$dir"; fi; \
	done; \
	if [ -z "$$dirs" ]; then echo "No test files under $(1) yet; stage skipped."; exit 0; fi; \
	echo "pytest$$dirs (in $(COLLECTION_DIR))"; \
	$(TEST_ENV) $(PYTEST) $$dirs
endef

units: venv layout
	$(call run_pytest,tests/unit tests/simulator)

integration: venv layout
	$(call run_pytest,tests/integration)

# The demo runs tests/tools/demo.py when it exists, otherwise playbooks/demo.yml.
demo: venv layout
	cd "$(COLLECTION_DIR)" && if [ -f tests/tools/demo.py ]; then \
		$(TEST_ENV) "$(BIN)/python" tests/tools/demo.py; \
	elif [ -f playbooks/demo.yml ]; then \
		$(TEST_ENV) "$(BIN)/ansible-playbook" playbooks/demo.yml; \
	else \
		echo "No demo yet: add tests/tools/demo.py or playbooks/demo.yml."; exit 1; \
	fi

# The benchmark runs the stop and resume playbooks against the simulator for three scenarios and
# writes benchmarks/results.json and benchmarks/results.md in this checkout. It took 24 to 34
# minutes on 2 cores shared with other test runs. It is not part of `make test`, and
# benchmarks/README.md explains the method.
bench: venv layout
	cd "$(COLLECTION_DIR)" && $(TEST_ENV) "$(BIN)/python" benchmarks/run_bench.py --results-dir "$(CURDIR)/benchmarks"

clean:
	rm -rf "$(VENV)" "$(BUILD_DIR)" tests/output .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
