# Sésame's developer commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO_BUILD_FLAGS := -trimpath -ldflags="-s -w"

.PHONY: run build assets generate test test-deps check-generated lint fuzz bench clean

## run: start Sésame on http://localhost:8080 with the embedded store
run:
	go run .

## build: the static binary, the same one the Dockerfile ships and the browser tests drive
build:
	CGO_ENABLED=0 go build $(GO_BUILD_FLAGS) -o bin/sesame .

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

## assets: rebuild frontend/dist from frontend/src (needs Node)
assets: node_modules
	npm run build

## generate: regenerate the templ components' Go code
generate:
	go tool templ generate

## check-generated: fail when the generated Go code or the built assets differ from their sources
GENERATED = frontend/views/*_templ.go frontend/dist/*
check-generated: node_modules
	@sha256sum $(GENERATED) > .generated.before
	go tool templ generate
	npm run build
	@sha256sum $(GENERATED) > .generated.after
	@if ! cmp -s .generated.before .generated.after; then \
		diff .generated.before .generated.after; rm -f .generated.before .generated.after; \
		echo "generated files were stale: they are regenerated now; commit them"; exit 1; fi
	@rm -f .generated.before .generated.after

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

## test: everything CI checks: generated files, vet, unit, integration and browser tests with -race
# The browser and fault tests drive the real binary from outside; the race
# detector has nothing to watch in their own code, and compiling the
# Chromium protocol package with it costs minutes on 2 cores.
# The timing-enumeration tests skip themselves under -race (the detector
# slows FerretDB tens of times, unevenly): they run again without it, the
# three at once (-parallel 3): two of them mostly wait out the sign-in's
# refusal floor, and one after the other they left a core idle for a minute.
# Then every integration test runs again on a second server, FerretDB over
# a PostgreSQL cluster the tests create (server/store/storetest), and the
# store contract suites must run there too instead of skipping (about a
# minute on 2 cores; .ci/run installs PostgreSQL).
# Under -race, the integration tests reach the embedded MongoDB wire-protocol
# server in a process of its own (`sesame store serve`, the binary just
# built): the detector then watches Sésame's code, not FerretDB's, which it
# would slow tenfold. The store package's own tests still start it inside.
# The tests that read printed letters back skip when pdftotext is missing
# on a developer's machine; here test-deps installs it and a missing tool fails.
# The two longest packages come first on go test's command line: it starts
# packages' tests in that order as their builds allow, and the web tests,
# last in path order, started 45 s into the PostgreSQL run and ended it
# alone (122 s; 98 s with them first, on a fresh clone). A package named
# twice runs once, where it is first named.
SLOW_FIRST = ./server/web ./server/store
test: export SESAME_REQUIRE_TOOLS = 1
test: test-deps check-generated lint build
	@dir=$$(mktemp -d); bin/sesame store serve $$dir > $$dir/uri 2> $$dir/log & pid=$$!; \
	for i in $$(seq 100); do [ -s $$dir/uri ] && break; sleep 0.1; done; \
	SESAME_TEST_POSTGRES=skip SESAME_TEST_STORE_URI=$$(cat $$dir/uri) go test -race -count=1 -timeout 20m $(SLOW_FIRST) $$(go list ./... | grep -v /e2e); rc=$$?; \
	kill $$pid; wait $$pid 2>/dev/null; rm -rf $$dir; exit $$rc
	go test -count=1 -parallel 3 -run '^TestTiming' ./server/web/
	SESAME_TEST_POSTGRES=require SESAME_TEST_BACKEND=postgres go test -count=1 -skip '^TestTiming' $(SLOW_FIRST) ./server/...
	SESAME_E2E=require SESAME_BINARY=$(CURDIR)/bin/sesame go test -count=1 ./e2e/

## test-deps: install Debian's chromium-headless-shell, postgresql and poppler-utils when missing (as root), for make test
test-deps:
	@scripts/test-deps

## fuzz: run every fuzz target for FUZZTIME each (not part of CI; crashers land in testdata/fuzz)
FUZZTIME ?= 60s
FUZZ_TARGETS = \
	./server/policy:FuzzEvaluate \
	./server/recovery:FuzzNormaliseCode \
	./server/account:FuzzParseCSV \
	./server/account:FuzzNormalisePhone \
	./server/account:FuzzValidEmail \
	./server/school:FuzzParse \
	./server/web:FuzzFormPost
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg)"; \
		go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

## bench: the load benchmark against the real binary (not part of CI; see bench/README.md)
bench:
	go run ./bench

clean:
	rm -rf bin e2e/artifacts
