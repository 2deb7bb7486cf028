# handshake-viz: `sudo make handshake` and `make test` set up everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

# What each target needs from the system: "check-command:debian-package".
# cargo builds replay's compiled core when the environment is made (Debian's pulls in rustc).
BUILD_NEEDS := cargo:cargo
RUN_NEEDS := dot:graphviz libpcap.so:libpcap0.8 ip:iproute2 tc:iproute2 nft:nftables hangul-font:fonts-nanum
# The tests compile C programs and watch them (and curl against Python's http.server).
# The explorer's tests open its pages in Debian's chromium (Playwright, from PyPI, drives it).
TEST_NEEDS := $(RUN_NEEDS) tshark:tshark tcpdump:tcpdump npm:npm cc:gcc stdio.h:libc6-dev curl:curl chromium:chromium
# Mermaid's own parser, which the tests run over every Mermaid block they make (from npm).
MERMAID := $(VENV)/mermaid

.PHONY: handshake test replay

## Run the default scenarios under live capture (as root): captures/ and out/.
handshake: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="$(RUN_NEEDS)"
	$(BIN)/handshake-viz run --format svg,png,json,html --force

## Run every scenario of the catalogue (as root): captures/ and out/.
.PHONY: scenarios
scenarios: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="$(RUN_NEEDS)"
	$(BIN)/handshake-viz run --all --format svg,png,json,html --force

## Lint (ruff: errors, style, import order), then run the test suite.
test: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="$(TEST_NEEDS)"
	@test -d $(MERMAID)/node_modules/mermaid || { npm install --prefix $(MERMAID) --silent --no-audit --no-fund \
		mermaid@11 jsdom@29 && if [ -n "$$SUDO_UID" ] && [ "$$(id -u)" = 0 ]; then \
		chown -R "$$SUDO_UID:$${SUDO_GID:-$$SUDO_UID}" $(MERMAID); fi; }
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

## Draw every conversation of a capture: make replay CAPTURE=path/to/file.pcap
replay: $(STAMP)
	@test -n "$(CAPTURE)" || { echo "usage: make replay CAPTURE=path/to/file.pcap"; exit 2; }
	@$(MAKE) --no-print-directory system-packages NEEDS="dot:graphviz"
	$(BIN)/handshake-viz replay "$(CAPTURE)" --format svg,png,json,html --force

# The virtual environment, rebuilt when pyproject.toml or the core's sources change; given back
# to the sudo user.
$(STAMP): pyproject.toml replay-core/Cargo.toml $(wildcard replay-core/src/*.rs)
	@$(MAKE) --no-print-directory system-packages NEEDS="$(BUILD_NEEDS)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@
	@if [ -n "$$SUDO_UID" ] && [ "$$(id -u)" = 0 ]; then \
		chown -R "$$SUDO_UID:$${SUDO_GID:-$$SUDO_UID}" $(VENV) $$(ls -d *.egg-info replay-core/target 2>/dev/null); fi

# Installs the missing Debian packages when root; otherwise says exactly what to install.
.PHONY: system-packages
system-packages:
	@missing=""; \
	for need in $(NEEDS); do \
		check=$${need%%:*}; package=$${need##*:}; \
		case $$check in \
			*.so) ldconfig -p 2>/dev/null | grep -q "$$check" || missing="$$missing $$package";; \
			hangul-font) fc-list :lang=ko 2>/dev/null | grep -q . || missing="$$missing $$package";; \
			*.h) test -e /usr/include/$$check || missing="$$missing $$package";; \
			*) command -v $$check >/dev/null 2>&1 || missing="$$missing $$package";; \
		esac; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing system packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing system packages:$$missing"; \
			echo "install them with: sudo apt-get install -y$$missing   (or run this make target with sudo)"; \
			exit 1; \
		fi; \
	fi

## Run the whole catalogue N times (default 20) beside two busy loops; count what went wrong.
.PHONY: soak
soak: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="$(RUN_NEEDS)"
	$(BIN)/python checks/soak.py $(or $(N),20)

## Mutated captures (N, default 20000) through replay, header and states: tracebacks, exit codes,
## outputs; and the core's checked build (overflow checks on; one in 50 under valgrind) against the Python path.
.PHONY: fuzz
fuzz: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="dot:graphviz valgrind:valgrind"
	cargo build --quiet --profile checked --manifest-path replay-core/Cargo.toml
	$(BIN)/python checks/fuzz.py $(or $(N),20000)

## Replay speed and memory against tshark on a generated 1M-packet loopback capture; then (as root)
## 10,000 short connections under watch, with and without tracing their socket calls; then the
## explorer page of one long conversation, opened and scrolled in chromium.
.PHONY: bench
bench: $(STAMP)
	@$(MAKE) --no-print-directory system-packages NEEDS="tshark:tshark cc:gcc stdio.h:libc6-dev chromium:chromium $(RUN_NEEDS)"
	$(BIN)/python bench/replay_vs_tshark.py $(PACKETS)
	$(BIN)/python bench/watch_calls.py $(CONNECTIONS)
	$(BIN)/python bench/explorer.py $(EXPLORED)
