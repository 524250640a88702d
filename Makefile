BUN := node_modules/.bin/bun
SRC := $(shell find src -type f) package.json Makefile

.PHONY: all build release deps docker images demo test check typecheck lint format bench clean

all: build

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: node_modules/.installed

# The stage program every job container starts with (see src/worker/stage/stage.c).
dist/gridx-stage: src/worker/stage/stage.c scripts/build-stage.sh
	bash scripts/build-stage.sh $@

# The flags and why (bytecode, code splitting, the header-size limit, native text width in help)
# are in scripts/build.ts; the stage program goes in as an embedded file (Bun.embeddedFiles;
# src/worker/stage/program.ts).
dist/gridx: node_modules/.installed dist/gridx-stage $(SRC) scripts/build.ts
	$(BUN) scripts/build.ts --outfile dist/gridx src/main.ts dist/gridx-stage

build: dist/gridx

# gridx for linux, macOS and Windows on x64 and arm64, each with both stage programs, and
# SHA256SUMS, in dist/release (scripts/release.sh). Separate from build, which stays native and fast.
release: node_modules/.installed
	bash scripts/release.sh

docker:
	bash scripts/docker-up.sh

images: docker
	bash scripts/local-images.sh

demo: build images
	bash scripts/demo.sh

typecheck: deps
	node_modules/.bin/tsc -p .
	node_modules/.bin/tsc -p src/web/client

lint: deps
	node_modules/.bin/eslint --max-warnings 0 src test bench
	node_modules/.bin/prettier --check "src/**/*.{ts,tsx,js,css}" "test/**/*.{ts,tsx}" "bench/**/*.ts"

format: deps
	node_modules/.bin/prettier --write "src/**/*.{ts,tsx,js,css}" "test/**/*.{ts,tsx}" "bench/**/*.ts"

# Runs the whole suite against real Docker and the compiled binary; ends with "N passed, N failed".
test: build images
	bash scripts/test-deps.sh
	bash scripts/test.sh

check: typecheck lint test

bench: build images
	$(BUN) bench/run.ts
	$(BUN) bench/soak.ts
	$(BUN) bench/packages.ts
	$(BUN) bench/dependents.ts

clean:
	rm -rf dist
