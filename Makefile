# The linkage platform: the service (app/) and its Pulumi program (infra/, stacks/, components/).
# `make run` and `make test` are the two set-up commands; see README.md.

GO        ?= go
STACK     ?= dev
FORMAT    ?= tree
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/linkage
# The oldest CPU in the worker pools is r3's Ivy Bridge (POPCNT, no AVX2): x86-64-v2. Faster
# kernels are chosen at run time (README, "Dice kernel tiers").
GOAMD64   ?= v2

# The Pulumi packages are tested without -race: it would recompile the huge SDKs.
APP_PKGS   = ./app/...
INFRA_PKGS = $(shell $(GO) list ./infra/... ./stacks/... ./components/... ./internal/... 2>/dev/null)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ACTIONLINT  := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
IMAGE       ?= linkage:$(VERSION)

.PHONY: image manifests run build test test-app test-infra test-kube bench bench-kernels lint fmt plan preview up services services-env test-faults test-hostile fuzz load

run: ## the service with its embedded defaults (SQLite, in-process queue, ./data)
	$(GO) run ./app/cmd/linkage all-in-one

build: ## the one binary, static
	CGO_ENABLED=0 GOAMD64=$(GOAMD64) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./app/cmd/linkage

test: test-app test-infra ## all tests

test-app:
	$(GO) test -race -count=1 $(APP_PKGS)

test-infra:
	@if [ -n "$(INFRA_PKGS)" ]; then $(GO) test -count=1 $(INFRA_PKGS); else echo "no infra packages yet"; fi

services: ## install (Debian, root) and start PostgreSQL, Redis and moto (S3/STS) for the backend tests
	@bash scripts/services.sh start >/dev/null

services-env: ## print the environment the backend tests read: eval "$$(make -s services-env)"
	@bash scripts/services.sh env

test-faults: ## API + 2 worker processes on Postgres/Redis/S3 with workers killed and servers restarted
	$(GO) test -race -tags faults -count=1 -timeout 25m -v ./app/faulttest

test-hostile: ## hostile requests and runs against all-in-one and serve + worker: answers, peak RSS, goroutines/fds back to baseline
	$(GO) test -tags hostile -count=1 -timeout 15m -v ./app/hostiletest

image: ## the container image linkage:$(VERSION) from app/Dockerfile (needs a Docker engine)
	@docker info >/dev/null 2>&1 || { echo "make image: no Docker engine reachable (docker info failed). Start Docker, or let the stack build it: pulumi up builds app/Dockerfile and pushes it to ECR." >&2; exit 1; }
	DOCKER_BUILDKIT=1 docker build -f app/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

manifests: ## every Kubernetes object STACK declares, strictly checked, as YAML in out/manifests/STACK.yaml
	@mkdir -p out/manifests
	@$(GO) run ./infra/plan -stack $(STACK) -format yaml > out/manifests/$(STACK).yaml.tmp
	@mv out/manifests/$(STACK).yaml.tmp out/manifests/$(STACK).yaml && echo "wrote out/manifests/$(STACK).yaml"

# make test-kube: kube-apiserver is built once per k8s.io/kubernetes version (test/kube/go.mod) into
# KUBE_BIN_DIR, outside the repository so that it survives clean clones on the same machine.
KUBE_BIN_DIR ?= $(HOME)/.cache/linkage
KUBE_STACKS  := dev prod local

test-kube: ## every object of every stack applied to a real kube-apiserver of the stacks' minor (separate module test/kube)
	@mkdir -p out/manifests $(KUBE_BIN_DIR)
	@$(GO) build -o out/plan ./infra/plan
	@set -e; for s in $(KUBE_STACKS); do out/plan -stack $$s -format yaml > out/manifests/$$s.yaml; done
	@set -e; v=$$(cd test/kube && $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes); bin=$(KUBE_BIN_DIR)/kube-apiserver-$$v; \
	if [ ! -x $$bin ]; then echo "building kube-apiserver $$v into $$bin (once per version)"; \
		minor=$$(echo $$v | cut -d. -f2); \
		(cd test/kube && $(GO) build -ldflags "-X k8s.io/component-base/version.gitVersion=$$v \
			-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$$minor" \
			-o $$bin.tmp k8s.io/kubernetes/cmd/kube-apiserver) && mv $$bin.tmp $$bin; fi; \
	cd test/kube && KUBE_APISERVER=$$bin KUBE_MANIFESTS=$(CURDIR)/out/manifests $(GO) test -count=1 -timeout 20m -v .

bench: ## engine and service benchmarks
	$(GO) test -run '^$$' -bench . -benchmem $(APP_PKGS)

bench-kernels: ## every Dice kernel tier this CPU runs, side by side: kernel alone, Compare on 1 and all cores, `linkage link` on 1 core
	@grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
	GOAMD64=$(GOAMD64) $(GO) test -run '^$$' -bench '^BenchmarkScan$$' -count 1 ./app/engine
	GOAMD64=$(GOAMD64) $(GO) test -run '^$$' -bench '^BenchmarkKernel$$' -benchtime 2x -count 1 ./app/engine
	@$(MAKE) -s build BIN=bin/linkage-bench
	CGO_ENABLED=0 GOAMD64=v1 $(GO) build -trimpath -o bin/linkage-bench-v1 ./app/cmd/linkage
	LINKAGE_BENCH_BIN=$(CURDIR)/bin/linkage-bench LINKAGE_BENCH_BASELINE=$(CURDIR)/bin/linkage-bench-v1 \
		$(GO) test -run '^$$' -bench '^BenchmarkLink$$' -benchtime 2x -count 1 -timeout 30m ./app/cmd/linkage

# Every parser: package and target. `make test` runs their seeds; `make fuzz` mutates.
FUZZ_TARGETS := ./app/http:FuzzJSONUpload ./app/http:FuzzBinaryUpload ./app/linkage:FuzzBlocks \
	./app/histogram:FuzzHistogramJSON ./app/cmd/linkage:FuzzConfig
FUZZTIME ?= 1000000x

fuzz: ## each fuzz target for FUZZTIME (default 10^6 executions); a crasher lands in testdata/fuzz as a regression test
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($${t%%:*}), $(FUZZTIME)"; \
		$(GO) test -run '^$$' -timeout 0 -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

load: ## bounded load test on loopback: LOAD_RATE req/s (200) for LOAD_DURATION (30s), LOAD_PROJECTS clients (50)
	$(GO) test -tags load -count=1 -timeout 10m -v -run TestLoad ./app/loadtest | grep -v '^=== '

lint: ## gofmt, go vet, staticcheck, actionlint
	@out=$$(gofmt -l app components stacks infra internal test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd test/kube && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(ACTIONLINT)

fmt:
	gofmt -w app components stacks infra internal test 2>/dev/null || true

plan: ## what STACK declares, offline under mocks (FORMAT=tree|json); no Pulumi CLI or AWS account needed
	@$(GO) run ./infra/plan -stack $(STACK) -format $(FORMAT)

preview: ## pulumi preview of STACK (Pulumi CLI and AWS credentials required)
	@command -v pulumi >/dev/null 2>&1 || { echo "preview: the pulumi CLI is not installed; install it to preview against AWS, or run 'make plan STACK=$(STACK)' offline" >&2; exit 1; }
	pulumi preview --stack $(STACK) --diff

up: ## pulumi up of STACK (Pulumi CLI and AWS credentials required)
	@command -v pulumi >/dev/null 2>&1 || { echo "up: the pulumi CLI is not installed; install it to deploy, or run 'make plan STACK=$(STACK)' offline" >&2; exit 1; }
	pulumi up --stack $(STACK)
