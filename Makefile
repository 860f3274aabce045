# Sésame's developer commands. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO_BUILD_FLAGS := -trimpath -ldflags="-s -w"

.PHONY: run build assets generate test check-generated lint fuzz bench clean

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
test: check-generated lint build
	SESAME_E2E=require SESAME_BINARY=$(CURDIR)/bin/sesame go test -race -count=1 ./...

## fuzz: run each fuzz target for a while (not part of CI)
FUZZTIME ?= 60s
fuzz:
	go test -run='^$$' -fuzz=FuzzEvaluate -fuzztime=$(FUZZTIME) ./server/policy/

clean:
	rm -rf bin e2e/artifacts
