# KMS 1.0 → 3.0 migration: build, test, run, bench.
GO       ?= go
FUNCTIONS := discover migrate poll rotate
DIST     := dist

.PHONY: all build package deploy test vet run bench clean check-spec check-spec-test conformance fuzz-smoke

all: build

## build: the four function binaries for Function Compute (linux/amd64, static) and kmsmig for this machine
build:
	@for f in $(FUNCTIONS); do \
	  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(DIST)/$$f/main ./functions/$$f || exit 1; \
	done
	$(GO) build -o bin/kmsmig ./cmd/kmsmig

## package: one zip per function as Function Compute's go1 runtime takes it (the binary named main at the root), for uploads outside Serverless Devs
package: build
	@for f in $(FUNCTIONS); do \
	  (cd $(DIST)/$$f && rm -f ../$$f.zip && python3 -m zipfile -c ../$$f.zip main) || exit 1; \
	  echo "$(DIST)/$$f.zip"; \
	done

## deploy: check s.yaml, build, and deploy with Serverless Devs (s, or npx @serverless-devs/s); see README "Deployment" for what to export first
deploy: check-spec build
	@if command -v s >/dev/null 2>&1; then s deploy -y; else npx --yes @serverless-devs/s@3.1.10 deploy -y; fi

## vet: gofmt and go vet
vet:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: formatting, vet and the whole test suite. The rehearsals run last, on
## their own: they run the functions on a clock accelerated 60x, and the other
## packages' tests competing for the two cores would change the night's schedule
test: vet
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /testinfra/rehearsal)
	$(GO) test -count=1 ./testinfra/rehearsal/

## run: the main job on the embedded default: build the functions and rehearse a whole migration of the demo estate under the twins
run: build
	bin/kmsmig rehearse --inventory demo --dist $(DIST) --syaml s.yaml

## bench: the Go benchmarks, then kmsmig bench: every judged figure measured in one run, written to results/
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...
	bin/kmsmig bench --dist $(DIST) --syaml s.yaml --results results

## check-spec: s.yaml through the official Serverless Devs parser and the fc3 props schema (offline after npm ci)
check-spec:
	cd deploy && npm ci --silent --no-audit --no-fund --prefer-offline && node check-spec.js

## check-spec-test: the checker's own tests (~10 s)
check-spec-test: check-spec
	cd deploy && node --test check-spec.test.js

## conformance: the twins of `kmsmig twin` through the official Node.js SDKs (openapi-client, pop-core, sts, ali-oss V1 and V4, log, fc; offline after npm ci, ~20 s)
## (install scripts are skipped: the two in the tree only act on Node 10 and 12)
conformance:
	$(GO) build -o bin/kmsmig ./cmd/kmsmig
	cd conformance && npm ci --silent --no-audit --no-fund --prefer-offline --ignore-scripts && \
	  node --test --test-reporter=./reporter.mjs --test-reporter-destination=stdout conformance.test.js

## fuzz-smoke: every fuzz target for a few seconds (FUZZTIME=2s each, ~75 s on 2 cores); the seed corpora already run in make test
fuzz-smoke:
	scripts/fuzz-smoke.sh

clean:
	rm -rf $(DIST) bin
