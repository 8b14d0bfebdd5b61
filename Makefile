# Thin wrapper over meson and ninja.  The two commands of the README:
#   make demo   set up the machine, build, and run the demo lab
#   make test   set up the machine, build (plain, sanitized, fuzz), run every test
JOBS ?= 2

.PHONY: all setup build demo test unit format clean

all: build

setup:
	@bash scripts/setup

build:
	@[ -f build/build.ninja ] || meson setup build >/dev/null
	@ninja -C build -j$(JOBS)

demo: setup build
	@bash scripts/demo

test: setup
	@bash tests/run

unit: build
	@meson test -C build --suite unit --print-errorlogs

format:
	@git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz
