# meterd's tasks. `make help` lists them; CI runs `make test` and `make fuzz` (.ci/run).
GO ?= go
FUZZTIME ?= 5s

.PHONY: help run build test vet fmt bench clean fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## start meterd on 127.0.0.1:8080 (demo state on an empty meterd.db)
	$(GO) run ./cmd/meterd serve

build: ## build bin/meterd
	$(GO) build -o bin/meterd ./cmd/meterd

test: vet ## run every test: unit, SQLite, wire captures, Go SDK and boto3 end to end
	$(GO) test -count=1 -timeout 20m ./...

vet: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz: ## run every fuzz target for FUZZTIME (default 5s) each; a find fails and is kept in testdata/fuzz
	@set -e; grep -rlE --include='*_test.go' '^func Fuzz' cmd internal | sort | while read -r f; do \
	  for fn in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$$f" | cut -d' ' -f2); do \
	    echo "fuzz $$fn in ./$$(dirname "$$f") for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "./$$(dirname "$$f")" || exit 1; \
	  done; \
	done

bench: ## run the load generator against meterd and the decode-only baseline
	$(GO) run ./cmd/meterd bench

clean: ## remove build output
	rm -rf bin
