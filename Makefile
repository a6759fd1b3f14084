# The two README commands: `make demo` and `make test`. Both install what is
# missing (Debian packages, npm dependencies) and build first.
SHELL := /bin/bash
.DEFAULT_GOAL := build

NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: deps npm build test demo demo-one-rack demo-multicluster lab lab-down bench clean

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

# The fabric: two racks of dual-homed, dual-stack nodes (docs/lab.md).
demo: deps build
	@bash scripts/lab-demo.sh

# The smaller lab: three nodes behind one ToR.
demo-one-rack: deps build
	@bash scripts/lab-demo.sh --one-rack

# Two clusters routing to each other's pods through gateway nodes (docs/multicluster.md).
demo-multicluster: deps build
	@bash scripts/lab-demo.sh --multicluster

# The one-rack lab with a controller, left running; prints how to reach every host and
# writes .lab/env. The next `make lab` replaces it; `make lab-down` removes it (docs/lab.md).
lab: deps build
	@bash scripts/lab-demo.sh --keep

lab-down:
	@bash scripts/lab-demo.sh --down

# make bench BENCH=cni (one of bench/*.mjs); without BENCH it lists them.
bench: deps build
	npm run bench --silent -- $(BENCH)

clean:
	rm -rf packages/*/dist packages/*/*.tsbuildinfo packages/bgp/src/gen .test-results
