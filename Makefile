# blkrew: `make demo` and `make test` are the two commands a new user runs (README.md).
SWIFT ?= swift
RELEASE_BIN := .build/release/blkrew
SUITE ?= suites/quickstart.yaml

.PHONY: setup build demo test bench bench-quick format clean test-slurm

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

## test: every test (unit, compiler tier, end to end on a small subset), then bench-quick.
test: setup
	$(SWIFT) build
	$(SWIFT) test
	$(MAKE) --no-print-directory bench-quick BENCH_CONFIG=debug

## bench: every benchmark at full size; figures in results/bench/<name>.json.
bench: build
	$(RELEASE_BIN) bench

## bench-quick: every benchmark once on its smallest input (results/bench/quick/, not committed).
BENCH_CONFIG ?= release
bench-quick: setup
	$(SWIFT) build -c $(BENCH_CONFIG) --product blkrew
	.build/$(BENCH_CONFIG)/blkrew bench --quick

## test-slurm: the Slurm executor against a throw-away one-node Slurm (installed if missing);
## prints "skipped: <reason>" and succeeds when Slurm cannot be installed or started here.
test-slurm: setup
	@scripts/test-slurm.sh

format:
	$(SWIFT) format -i -r Sources Tests Package.swift

clean:
	rm -rf .build
