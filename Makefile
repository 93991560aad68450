# A thin wrapper over CMake; see README.md.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build test test-asan test-containers demo bench fuzz format format-check clean deps

all: build

deps:
	scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j 1

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DKJ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

# The real images under docker compose (needs root for dockerd; see
# tests/containers/run.sh).
test-containers: build
	tests/containers/run.sh $(BUILD)

demo:
	scripts/demo.sh

bench: build
	bench/run.sh $(BUILD)

fuzz:
	CC=clang cmake -S . -B build-fuzz -DKJ_FUZZ=ON -DKJ_TESTS=ON
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	scripts/fuzz.sh build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
