# vcproxy — the two commands: `make demo` and `make test`. Both install what is
# missing first, and a second run does no work that is not needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
# The real control plane (kube-apiserver, kube-controller-manager, kubectl, etcd),
# built from the Go module proxy into a cache outside the repository.
K8S_BIN = $(shell tools/controlplane/build.sh)

.PHONY: help deps env build demo test bench fuzz clean

help:
	@echo "make demo   — real etcd + kube-apiserver + kube-controller-manager, vcproxy in front, tenants acme and globex"
	@echo "              (make demo REPLICAS=3: three vcproxy replicas behind HAProxy, one URL)"
	@echo "make test   — build whatever is missing, then run every test against the real control plane"
	@echo "make env    — build (or find) the cached control-plane binaries and print where they are"
	@echo "make bench  — run the benchmarks in bench/"
	@echo "make fuzz   — run every cargo-fuzz target for FUZZ_SECONDS (60) each; FUZZ_TARGETS=\"a b\" picks some"

# Debian packages: protoc for the etcd client crate, HAProxy for replicas behind one URL (the
# demo with REPLICAS > 1, the fleet and fault tests). Go and Rust come with the machine.
deps:
	@command -v protoc >/dev/null || { \
	  echo "installing protobuf-compiler"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null; }
	@test -x /usr/sbin/haproxy || command -v haproxy >/dev/null || { \
	  echo "installing haproxy"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
	@command -v go >/dev/null || { echo "Go is required (it builds the control plane)"; exit 1; }
	@command -v cargo >/dev/null || { echo "Rust (cargo) is required"; exit 1; }

env: deps
	@tools/controlplane/build.sh

build: deps
	$(CARGO) build --release -p vcproxy -p vcproxy-testenv

# `make demo REPLICAS=3`: three replicas behind HAProxy on the same URL (127.0.0.1:8443).
REPLICAS ?= 1
demo: env build
	VCPROXY_K8S_BIN="$(K8S_BIN)" target/release/vcproxy-devenv demo --vcproxy target/release/vcproxy --out demo --policy policies/default.toml --replicas $(REPLICAS)

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

# `make fuzz` runs each cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS, starting from
# the committed seeds in fuzz/corpus/<target>/. What libFuzzer adds goes to a scratch corpus
# under fuzz/target/ (the first directory given is the one it writes), so git only ever sees
# the seeds; crashes land in fuzz/artifacts/<target>/. FUZZ_ARGS passes more libFuzzer flags.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= request_path list_stream watch_stream selectors patches protobuf policy_toml crd_schema
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "installing cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; }
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$t; \
	  echo "+ cargo +nightly fuzz run $$t ($(FUZZ_SECONDS)s)"; \
	  $(CARGO) +nightly fuzz run $$t fuzz/target/corpus/$$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_ARGS); \
	done

clean:
	$(CARGO) clean
	rm -rf demo
