# The two README commands: `make demo` and `make test`. Both install what is
# missing (Debian packages, npm dependencies) and build first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: deps npm build test demo bench clean

deps:
	@bash scripts/install-deps.sh

$(NODE_MODULES_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

npm: $(NODE_MODULES_STAMP)

build: npm
	@bash scripts/build.sh

test: deps build
	npm test --silent

demo: deps build
	@bash scripts/lab-demo.sh

# make bench BENCH=cni (one of bench/*.mjs); without BENCH it lists them.
bench: deps build
	npm run bench --silent -- $(BENCH)

clean:
	rm -rf packages/*/dist packages/*/*.tsbuildinfo packages/bgp/src/gen .test-results
