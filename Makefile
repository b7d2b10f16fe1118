# kernel.kmod — every target does its own set-up and is safe to run again.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build
export KMOD_TEST_CACHE ?= $(HOME)/.cache/kernel-kmod

.PHONY: help deps venv collection-link demo test unit conformance integration molecule sanity lint docs bench clean

help:
	@echo "make demo   - boot a throwaway Debian VM and run playbooks/demo.yml against it"
	@echo "make test   - the whole suite: unit, conformance, integration (VM), molecule (VM), sanity, lint"
	@echo "make molecule - the roles' Molecule scenarios, one VM each, MOLECULE_JOBS (2) at once; logs in $$KMOD_TEST_CACHE/molecule"

deps: .build/apt.stamp
.build/apt.stamp: tests/apt-packages.txt
	@mkdir -p .build
	@missing=$$(grep -v '^#' tests/apt-packages.txt | while read -r p; do \
	    [ -n "$$p" ] && ! dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' && echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: tests/requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r tests/requirements.txt
	@touch $@

collection-link:
	@mkdir -p .build/ansible_collections/kernel
	@[ -L .build/ansible_collections/kernel/kmod ] || ln -s $(CURDIR) .build/ansible_collections/kernel/kmod

unit: deps venv collection-link
	$(BIN)/pytest tests/unit

conformance: deps venv collection-link
	$(BIN)/pytest tests/conformance

integration: deps venv collection-link
	$(BIN)/pytest tests/integration

# The roles' scenarios (extensions/molecule/, where Molecule looks in a collection), each on its own VM of
# tests/vm, MOLECULE_JOBS at a time (tests/molecule.sh). Molecule and Ansible keep their state under
# $(KMOD_TEST_CACHE)/molecule, never in ~/.ansible or ~/.cache; the collection is this checkout, through .build.
MOLECULE_SCENARIOS ?= persistent_modules module_blacklist
MOLECULE_JOBS ?= 2
molecule: deps venv collection-link
	PATH=$(CURDIR)/$(BIN):$$PATH MOLECULE_CACHE=$(KMOD_TEST_CACHE)/molecule MOLECULE_JOBS=$(MOLECULE_JOBS) \
	    tests/molecule.sh $(MOLECULE_SCENARIOS)

sanity: venv
	PATH=$(CURDIR)/$(BIN):$$PATH tests/sanity/run.sh

# ansible-lint, left to itself, installs a copy of this collection into
# ~/.ansible/collections (which then shadows the checkout for every later
# ansible-playbook run) and asks Galaxy and GitHub for updates. --offline lints
# the checkout through the .build symlink and installs nothing; ANSIBLE_HOME
# keeps ansible-core's own tmp and cache directories in .build too.
lint: venv collection-link
	PATH=$(CURDIR)/$(BIN):$$PATH ANSIBLE_HOME=$(CURDIR)/.build/ansible-home $(BIN)/ansible-lint --offline

docs: venv collection-link
	PATH=$(CURDIR)/$(BIN):$$PATH docs/build.sh

test: deps venv collection-link
	$(BIN)/pytest tests/unit tests/conformance tests/integration
	$(MAKE) molecule sanity lint docs

demo: deps venv collection-link
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python tests/vm/run_playbook.py playbooks/demo.yml

bench: deps venv collection-link
	@mkdir -p bench/results
	set -o pipefail; { echo "# $$(date -u '+%F %H:%M UTC'); $$(nproc) CPUs,$$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); make bench"; \
	    PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/modinfo_tree.py; } | tee bench/results/modinfo_tree.txt
	PATH=$(CURDIR)/$(BIN):$$PATH BENCH_OUT=bench/results/depmod_tree.md $(BIN)/python bench/depmod_tree.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/depmod_module.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/depmod_compressed.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/fnmatch_patterns.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/facts_vm.py
	set -o pipefail; { echo "# $$(date -u '+%F %H:%M UTC'); $$(nproc) CPUs,$$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); make bench"; \
	    PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python bench/plan_tree.py; } | tee bench/results/plan_tree.txt

clean:
	rm -rf .build $(VENV) tests/output
