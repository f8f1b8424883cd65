# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
STATE_DIR ?= ./data

.PHONY: run test deps build build-ci clean bench format lint

deps:
	@bash scripts/install-deps.sh

build: deps
	@echo "build: configuring release (build/release)"
	@cmake --preset release >/dev/null
	@echo "build: compiling (ninja, $(JOBS) jobs; the first build takes a few minutes)"
	@cmake --build build/release -j $(JOBS)

run: build
	@bash scripts/run.sh "$(LISTEN)" "$(STATE_DIR)"

build-ci: deps
	@echo "test: configuring ci preset (ASan+UBSan+coverage, build/ci)"
	@cmake --preset ci >/dev/null
	@echo "test: compiling (ninja, $(JOBS) jobs)"
	@cmake --build build/ci -j $(JOBS)

test: build-ci
	@bash scripts/test.sh

bench: build
	@bash bench/api

format:
	@bash tools/format.sh

lint:
	@bash tools/lint.sh

clean:
	rm -rf build
