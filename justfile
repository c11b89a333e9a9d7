# wasimap: the verbs people use. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

guest_target := "target/guest"
componentize_js := "target/js-tools/node_modules/.bin/componentize-js"
plugins := "-p shell -p triage -p hostile -p template -p archive -p dedupe -p mbox -p report -p bench -p journal"

# Show the recipes.
default:
    @just --list

# Build the protocol component and the example plugins for wasm32-wasip2.
build-guest:
    cargo build --release --target wasm32-wasip2 --target-dir {{guest_target}} -p wasimap-component {{plugins}}
    @ls -l {{guest_target}}/wasm32-wasip2/release/*.wasm

# Build the Python example plugin (guest/python/report) with componentize-py (`pip install componentize-py==0.25.1`).
build-python:
    mkdir -p target/python
    componentize-py -d wit -w plugin componentize app -p guest/python/report -o target/python/report.wasm
    @ls -l target/python/report.wasm

# Build the JavaScript example plugin (guest/js/report) with componentize-js, which npm installs
# (pinned by guest/js/package-lock.json) into target/js-tools on first use; skipped when up to date.
build-js:
    if ! cmp -s guest/js/package-lock.json target/js-tools/package-lock.json || [ ! -x {{componentize_js}} ]; then \
        rm -rf target/js-tools && mkdir -p target/js-tools && cp guest/js/package.json guest/js/package-lock.json target/js-tools/ && \
        npm ci --prefix target/js-tools --no-audit --no-fund --loglevel=error; \
    fi
    mkdir -p target/js
    if [ -z "$(find guest/js/report wit target/js-tools/package-lock.json -newer target/js/report.wasm 2> /dev/null)" ] && [ -f target/js/report.wasm ]; then \
        echo "target/js/report.wasm is up to date"; \
    else \
        {{componentize_js}} guest/js/report/report.js --wit wit --world-name plugin --disable http fetch-event -o target/js/report.wasm; \
    fi
    @ls -l target/js/report.wasm

# Build everything: guests and the release `wasimap` binary.
build: build-guest
    cargo build --release -p wasimap

# Start a private Dovecot on 127.0.0.1, seed a mailbox, run the triage plugin against it.
demo: build
    tests/demo.sh target/release/wasimap {{guest_target}}/wasm32-wasip2/release

# Run every test: unit tests, and integration tests against one shared private Dovecot, Cyrus and Courier.
# The release `wasimap` compiles the big Python and JavaScript components (CPython, SpiderMonkey).
test: build-python build-js
    cargo build -p wasimap --bin wasimap
    cargo build --release -p wasimap --bin wasimap
    dir="$PWD/target/just-test"; \
    trap 'for s in dovecot cyrus courier; do tests/$s/server.sh stop "$dir/$s" > /dev/null; done' EXIT; \
    for s in dovecot cyrus courier; do tests/$s/server.sh start "$dir/$s" --owner-pid $$ > /dev/null; done; \
    WASIMAP_DOVECOT_ENV="$dir/dovecot/env" WASIMAP_CYRUS_ENV="$dir/cyrus/env" WASIMAP_COURIER_ENV="$dir/courier/env" cargo test

# Run each fuzz target for SECONDS (needs nightly and cargo-fuzz: `cargo install cargo-fuzz`).
fuzz SECONDS="60":
    cd guest/protocol && for t in response_parser framing_chunks session_script encode_roundtrip typed_parsers; do \
        mkdir -p fuzz/corpus/$t && cargo +nightly fuzz run $t fuzz/corpus/$t fuzz/seeds -- -max_total_time={{SECONDS}} -max_len=4096 2>&1 | tail -3; \
    done

# Benchmarks: native parse (criterion) and end to end against a private Dovecot with 10,000 messages.
# `just bench smoke` runs every case on a small mailbox with short measurements (CI uses it to keep the harness working).
bench MODE="full": build
    cargo build --release -p wasimap-bench --bins
    if [ "{{MODE}}" = smoke ]; then \
        cargo bench -p wasimap-bench --bench parse -- --noplot --warm-up-time 0.1 --measurement-time 0.2; \
        WASIMAP_BENCH_MESSAGES=300 WASIMAP_BENCH_BIG_MESSAGES=20 WASIMAP_BENCH_REPEAT=1 python3 tests/bench/run.py; \
        WASIMAP_WATCH_ACCOUNTS=5 WASIMAP_WATCH_ROUNDS=2 WASIMAP_WATCH_SOAK=200 WASIMAP_WATCH_KICK_EVERY=50 WASIMAP_WATCH_HOSTILE_SOAK=300 WASIMAP_WATCH_HOSTILE_RATE=20 python3 tests/bench/watch_bench.py; \
    elif [ "{{MODE}}" = full ]; then \
        cargo bench -p wasimap-bench --bench parse -- --noplot --warm-up-time 1 --measurement-time 3; \
        python3 tests/bench/run.py; \
        python3 tests/bench/watch_bench.py; \
    else \
        echo "just bench: MODE is full or smoke, not {{MODE}}" >&2; exit 2; \
    fi

# Instruction profile of one end-to-end FETCH (callgrind; JIT code named through wasmtime's perf map).
# ITEMS e.g. "(RFC822)" or "(UID FLAGS ENVELOPE BODYSTRUCTURE)"; VERB `stream` (typed), `peer` (the SDK plugin doing
# async-imap's job) or `fetch` (imaplib-shaped); `just profile 1000 noop` profiles 1,000 NOOPs.
profile ITEMS="(RFC822)" VERB="stream": build-guest
    cargo build --release -p wasimap --features profiling --target-dir target/profiling
    python3 tests/bench/profile.py "{{ITEMS}}" "{{VERB}}"

# Formatting and lints, as CI wants them.
lint:
    cargo fmt --all --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy -p wasimap-bench --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p wasimap-protocol -p wasimap-sdk -p wasimap-sandbox -p wasimap-watch
    cargo clippy --release --target wasm32-wasip2 --target-dir {{guest_target}} -p wasimap-component -p wasimap-protocol -p wasimap-sdk {{plugins}} -- -D warnings
    cargo clippy --release --target wasm32-wasip2 --target-dir {{guest_target}} -p wasimap-component --features watcher -- -D warnings

# Lints then tests.
ci: lint test

# Start a private Dovecot in DIR (prints its ports); stop it with `just server-stop DIR`.
server DIR="target/dovecot":
    tests/dovecot/server.sh start {{DIR}}

# Stop a Dovecot started with `just server`.
server-stop DIR="target/dovecot":
    tests/dovecot/server.sh stop {{DIR}}
