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

## check-generated: fail when committed generated files or assets are stale
check-generated: node_modules
	go tool templ generate
	npm run build
	@if [ -n "$$(git status --porcelain -- frontend)" ]; then \
		git status --short -- frontend; git diff --stat -- frontend; \
		echo "generated files are stale: run 'make generate assets' and commit the result"; exit 1; fi

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
