# coldsign task runner. `just --list` shows every recipe.

set shell := ["bash", "-euo", "pipefail", "-c"]

tools := justfile_directory() / ".tools"
anvil_version := "1.7.1"
ethers_version := "6.17.0"
eth_account_version := "0.14.0"
coincurve_version := "21.0.0"
schemathesis_version := "4.32.5"

export COLDSIGN_TOOLS := tools
# The commit the binaries name in `--version` (works without git metadata too).
export COLDSIGN_COMMIT := `git rev-parse --short=12 HEAD 2>/dev/null || echo unknown`

# List the recipes.
default:
    @just --list

# Install the test tools into .tools/ (git-ignored): anvil and cast from npm, ethers.js, eth-account and schemathesis from PyPI, and eth-account with coincurve in a second venv.
tools:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p "{{tools}}"
    if [ ! -x "{{tools}}/bin/anvil" ] || [ ! -d "{{tools}}/node_modules/ethers" ]; then
        echo "installing anvil, cast and ethers.js into {{tools}}" >&2
        npm install --silent --no-audit --no-fund --prefix "{{tools}}" \
            "@foundry-rs/anvil-linux-amd64@{{anvil_version}}" \
            "@foundry-rs/cast-linux-amd64@{{anvil_version}}" \
            "ethers@{{ethers_version}}" >&2
        mkdir -p "{{tools}}/bin"
        for t in anvil cast; do
            bin=$(find "{{tools}}/node_modules/@foundry-rs/$t-linux-amd64" -type f -name "$t" | head -1)
            chmod +x "$bin"
            ln -sf "$bin" "{{tools}}/bin/$t"
        done
    fi
    if [ ! -x "{{tools}}/venv/bin/python" ] || ! "{{tools}}/venv/bin/python" -c 'import eth_account' 2>/dev/null; then
        echo "installing eth-account into {{tools}}/venv" >&2
        python3 -m venv "{{tools}}/venv"
        "{{tools}}/venv/bin/pip" install --quiet --disable-pip-version-check "eth-account=={{eth_account_version}}" >&2
    fi
    # The signing bench's second eth-account row: the same pinned eth-account
    # with coincurve (libsecp256k1), in its own venv so the first stays pure Python.
    if [ ! -x "{{tools}}/venv-coincurve/bin/python" ] || ! "{{tools}}/venv-coincurve/bin/python" -c 'import eth_account, coincurve' 2>/dev/null; then
        echo "installing eth-account and coincurve into {{tools}}/venv-coincurve" >&2
        python3 -m venv "{{tools}}/venv-coincurve"
        "{{tools}}/venv-coincurve/bin/pip" install --quiet --disable-pip-version-check \
            "eth-account=={{eth_account_version}}" "coincurve=={{coincurve_version}}" >&2
    fi
    if [ ! -x "{{tools}}/venv/bin/schemathesis" ]; then
        echo "installing schemathesis into {{tools}}/venv" >&2
        "{{tools}}/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis=={{schemathesis_version}}" >&2
    fi
    "{{tools}}/bin/anvil" --version | head -1 >&2

# Run every test: unit, property, vector, cross-implementation and end-to-end.
test: tools
    #!/usr/bin/env bash
    set -euo pipefail
    log="{{tools}}/last-test.log"
    cargo test --workspace --locked 2>&1 | tee "$log"
    just fuzz-smoke
    # The service against its OpenAPI document (schemathesis from PyPI).
    bash scripts/schemathesis.sh
    # One closing line with the totals of every cargo test binary above.
    awk '/^test result:/ { p += $4; f += $6 } END { printf "total: %d passed, %d failed\n", p, f }' "$log"

# Run the product's main job end to end on a local chain.
demo: tools
    bash scripts/demo.sh

# Start `hub-cli serve` against a local demo chain (prints an API key), until Ctrl-C.
serve: tools
    bash scripts/serve.sh

# Benchmarks with peers measured in the same run: writes and prints target/bench-report/report.md (figures go to docs/benchmarks.md).
bench: tools
    #!/usr/bin/env bash
    set -euo pipefail
    # Each benchmark writes its fragment here (a fixed path, whatever CARGO_TARGET_DIR is).
    dir="{{justfile_directory()}}/target/bench-report"
    mkdir -p "$dir"
    rm -f "$dir"/*.md
    # The signing bench's alloy peer: its own crate and Cargo.lock outside the
    # workspace (so `cargo test --workspace` never builds alloy), its own target dir.
    cargo build --locked --release --manifest-path bench/alloy-peer/Cargo.toml \
        --target-dir "{{justfile_directory()}}/target/alloy-peer"
    export COLDSIGN_ALLOY_PEER="{{justfile_directory()}}/target/alloy-peer/release/alloy-peer"
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    cargo bench --workspace --locked
    load_end=$(cut -d' ' -f1-3 /proc/loadavg)
    py="{{tools}}/venv/bin/python"
    pyc="{{tools}}/venv-coincurve/bin/python"
    locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' bench/alloy-peer/Cargo.lock; }
    report="$dir/report.md"
    {
        echo "# coldsign benchmarks"
        echo
        echo "Measured by \`just bench\` on this machine; each peer ran in the same run, on the same input."
        echo
        echo "| machine | |"
        echo "|---|---|"
        echo "| CPUs (\`nproc\`) | $(nproc) |"
        cpu() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
        virt=$(grep -qw hypervisor /proc/cpuinfo && echo ", virtual machine" || true)
        echo "| CPU model | $(cpu 'model name') (family $(cpu 'cpu family'), model $(cpu model)$virt) |"
        echo "| memory | $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) |"
        echo "| load average (1, 5, 15 min) | $load_start at the start, $load_end at the end |"
        echo "| rustc | $(rustc --version) |"
        echo "| node | $(node --version) |"
        echo "| python | $("$py" --version 2>&1) |"
        echo "| ethers.js | $(node -p 'require("{{tools}}/node_modules/ethers/package.json").version') |"
        echo "| eth-account | $("$py" -c 'import eth_account; print(eth_account.__version__)') (pure-Python eth-keys) |"
        echo "| eth-account + coincurve | $("$pyc" -c 'import eth_account; from importlib.metadata import version; print(eth_account.__version__, "+ coincurve", version("coincurve"))') |"
        echo "| alloy (bench/alloy-peer) | alloy-signer-local $(locked alloy-signer-local), alloy-consensus $(locked alloy-consensus), k256 $(locked k256), secp256k1 $(locked secp256k1) |"
        echo "| anvil | $("{{tools}}/bin/anvil" --version | head -1) |"
        for f in $(find "$dir" -maxdepth 1 -name '*.md' ! -name report.md | sort); do
            echo
            cat "$f"
        done
    } > "$report.tmp"
    mv "$report.tmp" "$report"
    cat "$report"
    echo >&2
    echo "written to $report" >&2

# Format the code.
fmt:
    cargo fmt --all

# Lints: formatting and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Fuzz every decoder target for SECONDS each (cargo-fuzz on the stable toolchain via RUSTC_BOOTSTRAP).
fuzz seconds="300":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd fuzz
    for target in decode_transaction rlp_strict parse_batch; do
        mkdir -p "corpus/$target"
        cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
        echo "fuzzing $target for {{seconds}}s" >&2
        RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
            -max_total_time={{seconds}} -max_len=4096 -print_final_stats=1
    done

# A short fuzz run of every target (part of `just test`).
fuzz-smoke: (fuzz "10")
