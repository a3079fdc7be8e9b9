# yuxuan: two commands for users.
#   make run   installs what is missing, builds (release) and opens the app on the demo project
#   make test  installs what is missing, then runs the whole test suite
# Heavy things live in $(YUXUAN_CACHE) (default ~/.cache/yuxuan), keyed by version.
SHELL := /bin/bash
YUXUAN_CACHE ?= $(HOME)/.cache/yuxuan
export YUXUAN_CACHE
TORCH_VERSION := 2.13.0
VENV := $(YUXUAN_CACHE)/venv-torch-$(TORCH_VERSION)

# Users with their own libtorch set LIBTORCH=/path/to/libtorch; otherwise the venv's torch is used.
ifeq ($(origin LIBTORCH), undefined)
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
endif
export YUXUAN_PYTHON := $(VENV)/bin/python

.PHONY: setup setup-gui build run test lint bench demo screenshots fmt

setup:
	@bash scripts/setup.sh

setup-gui:
	@bash scripts/setup.sh --with-gui-runtime

build: setup
	cargo build --release

run: setup-gui
	cargo build --release
	./target/release/yuxuan demo --open

test: setup
	cargo test --all-targets -- --test-threads=2

lint: setup
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

bench: setup
	cargo build --release
	./target/release/yuxuan bench --all --out BENCH-RESULTS.json

screenshots:
	@bash scripts/setup.sh --with-screenshot-tools
	cargo build --release
	bash scripts/screenshots.sh

fmt:
	cargo fmt
