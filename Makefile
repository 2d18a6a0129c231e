# blkrew: `make demo` and `make test` are the two commands a new user runs (README.md).
SWIFT ?= swift
RELEASE_BIN := .build/release/blkrew
DEBUG_BIN := .build/debug/blkrew
SUITE ?= suites/quickstart.yaml

.PHONY: setup build demo test format clean

## setup: install the missing system packages (idempotent).
setup:
	@scripts/setup.sh

## build: release build of the blkrew command.
build: setup
	$(SWIFT) build -c release --product blkrew

## demo: run the quickstart sweep and write its report; the last line is the report's path.
demo: build
	@run_dir=$$($(RELEASE_BIN) sweep run $(SUITE) | tail -n 1) && \
	  $(RELEASE_BIN) report "$$run_dir" --format html md | tail -n 1

## test: every test (unit, compiler tier, end to end on a small subset).
test: setup
	$(SWIFT) build
	$(SWIFT) test

format:
	$(SWIFT) format -i -r Sources Tests Package.swift

clean:
	rm -rf .build
