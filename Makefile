# vcproxy — the two commands: `make demo` and `make test`. Both install what is
# missing first, and a second run does no work that is not needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# The real control plane (kube-apiserver, kube-controller-manager, kubectl, etcd),
# built from the Go module proxy into a cache outside the repository.
K8S_BIN = $(shell tools/controlplane/build.sh)

.PHONY: help deps env build demo test bench clean

help:
	@echo "make demo   — real etcd + kube-apiserver + kube-controller-manager, vcproxy in front, tenants acme and globex"
	@echo "make test   — build whatever is missing, then run every test against the real control plane"
	@echo "make env    — build (or find) the cached control-plane binaries and print where they are"
	@echo "make bench  — run the benchmarks in bench/"

# Debian packages: protoc for the etcd client crate. Go and Rust come with the machine.
deps:
	@command -v protoc >/dev/null || { \
	  echo "installing protobuf-compiler"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null; }
	@command -v go >/dev/null || { echo "Go is required (it builds the control plane)"; exit 1; }
	@command -v cargo >/dev/null || { echo "Rust (cargo) is required"; exit 1; }

env: deps
	@tools/controlplane/build.sh

build: deps
	$(CARGO) build --release -p vcproxy -p vcproxy-testenv

demo: env build
	VCPROXY_K8S_BIN="$(K8S_BIN)" target/release/vcproxy-devenv demo --vcproxy target/release/vcproxy --out demo --policy policies/default.toml

test: env
	VCPROXY_K8S_BIN="$(K8S_BIN)" $(CARGO) test --workspace --no-fail-fast

# `make bench` runs the default benchmarks (bench rewrite, then bench latency) with their
# defaults; `make bench BENCH_ARGS="latency --requests 1000"` runs just that. Reports go to
# bench/reports/<subcommand>-<time>/ (see bench/README.md).
BENCH_DEFAULT := rewrite latency
bench: env
	@command -v h2load >/dev/null || { \
	  echo "installing nghttp2-client (h2load, the load tool of bench cost)"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null; }
	$(CARGO) build --release -p vcproxy
	@set -e; export VCPROXY_K8S_BIN="$(K8S_BIN)" VCPROXY_BIN=target/release/vcproxy; \
	if [ -n "$(strip $(BENCH_ARGS))" ]; then \
	  echo "+ cargo run -p bench --release -- $(BENCH_ARGS)"; $(CARGO) run -p bench --release -- $(BENCH_ARGS); \
	else for sub in $(BENCH_DEFAULT); do \
	  echo "+ cargo run -p bench --release -- $$sub"; $(CARGO) run -p bench --release -- $$sub; done; fi

clean:
	$(CARGO) clean
	rm -rf demo
