# Shared helpers for the scripts in scripts/: sourced, never run.
# shellcheck shell=bash
#
# Sets ROOT (the repository root) and cds there; puts ~/.cargo/bin and node_modules/.bin on
# PATH; offers logging, secrets generation, free ports, and starting, polling and stopping
# `wrangler dev` instances. Every process started here runs in its own process group whose id
# is its PID, so that stopping it by PID also stops the workerd it spawned.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT" || exit 1

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/node_modules/.bin:$PATH"
# wrangler: no telemetry prompts, no interactive questions, no process.env leaking into vars.
export WRANGLER_SEND_METRICS=false
export CI="${CI:-1}"
unset CLOUDFLARE_INCLUDE_PROCESS_ENV CLOUDFLARE_ENV

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mwarning:\033[0m %s\n' "$*" >&2; }
error() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; }
die() {
    error "$@"
    exit 1
}

# Seconds since the epoch with milliseconds, and a duration since a start mark, for timings.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# N random bytes as 2N lower-case hex digits, from the OS CSPRNG.
random_hex() {
    if command -v openssl >/dev/null; then
        openssl rand -hex "$1"
    else
        od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
        echo
    fi
}

# SHA-256 of a string, lower-case hex (how SUPER_TOKEN_HASH is written).
sha256_hex() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

# The version of a crate as locked in Cargo.lock.
locked_version() {
    awk -v name="$1" '
        $0 == "name = \"" name "\"" { found = 1; next }
        found && /^version = / { gsub(/"/, "", $3); print $3; exit }
    ' "$ROOT/Cargo.lock"
}

# N distinct TCP ports that are free on 127.0.0.1 right now (held open together while chosen).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# logged NAME CMD...: runs CMD with its output (an installer's chatter) kept in
# .state/setup/NAME.log instead of printed; when it fails, prints the log's last lines and where
# the whole log is. EDGEAUTH_VERBOSE=1 prints everything as it comes.
logged() {
    local name="$1" log
    shift
    if [[ "${EDGEAUTH_VERBOSE:-}" == 1 ]]; then
        "$@"
        return
    fi
    log="$ROOT/.state/setup/$name.log"
    mkdir -p "$(dirname "$log")"
    if ! "$@" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        error "$name failed (whole log: ${log#"$ROOT"/})"
        return 1
    fi
}

# The tools build-worker needs, found on PATH (installed by scripts/setup).
export_build_tools() {
    WASM_BINDGEN_BIN="$(command -v wasm-bindgen || true)"
    [[ -n "$WASM_BINDGEN_BIN" ]] || die "wasm-bindgen is not installed: run scripts/setup"
    local want
    want="$(locked_version wasm-bindgen)"
    "$WASM_BINDGEN_BIN" --version | grep -qw -- "$want" ||
        die "$WASM_BINDGEN_BIN is not version $want (Cargo.lock's wasm-bindgen): run scripts/setup"
    export WASM_BINDGEN_BIN
}

# --- processes --------------------------------------------------------------------------

STARTED_PIDS=()

# start_bg LOG CMD...: runs CMD in the background in a new process group (pgid = PID), output
# to the file LOG, or to this script's own output if LOG is `-`; sets BG_PID.
start_bg() {
    local log="$1"
    shift
    # Not a group leader (no job control in scripts), so setsid execs in place: $! is the PID.
    # 9>&-: the child must not inherit scripts/test's fleet lock, or a leftover would hold it.
    if [[ "$log" == - ]]; then
        setsid "$@" </dev/null 9>&- &
    else
        setsid "$@" >"$log" 2>&1 </dev/null 9>&- &
    fi
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
}

# stop_pid PID...: SIGTERM to each process group, then SIGKILL to those still there after
# 5 s in all (not 5 s each: several servers stop together).
stop_pid() {
    local pid i alive
    for pid in "$@"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $(seq 50); do
        alive=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "$@"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# Stops everything start_bg started. Safe to call more than once.
stop_started() {
    ((${#STARTED_PIDS[@]})) || return 0
    stop_pid "${STARTED_PIDS[@]}"
    STARTED_PIDS=()
}

# wait_http URL PID TIMEOUT_S: waits until URL gives any HTTP answer (a 503 counts) while PID
# lives. Returns 1 if PID died or the time ran out.
wait_http() {
    local url="$1" pid="$2" deadline=$((SECONDS + $3)) code
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)"
        [[ "$code" != "000" && -n "$code" ]] && return 0
        sleep 0.2
    done
    return 1
}

# show_log_tail NAME LOG: the last lines of a log, for when something did not come up.
show_log_tail() {
    printf '\033[31m--- last lines of %s (%s) ---\033[0m\n' "$1" "$2" >&2
    tail -n 40 "$2" >&2 || true
    printf '\033[31m--- end of %s ---\033[0m\n' "$1" >&2
}

# show_build_errors NAME LOG: what a failed build said: its error messages (rustc's `error`
# lines and what follows them) when there are any, else the log's last lines.
show_build_errors() {
    if grep -q -E '^(error|Error)' "$2"; then
        printf '\033[31m--- errors of %s (%s) ---\033[0m\n' "$1" "$2" >&2
        awk '/^(error|Error)/ { on = 1 } on' "$2" | head -n 120 >&2
        printf '\033[31m--- end of %s ---\033[0m\n' "$1" >&2
    else
        show_log_tail "$1" "$2"
    fi
}

# --- wrangler ---------------------------------------------------------------------------

# Extra arguments for every `wrangler dev` (scripts/bench quiets the per-request log with them).
WRANGLER_DEV_ARGS=()

# start_wrangler LOG CONFIG PERSIST PORT [INSPECTOR_PORT]: `wrangler dev` on 127.0.0.1:PORT
# (without INSPECTOR_PORT, wrangler takes 9229 or, if that is taken, any free port); sets BG_PID.
start_wrangler() {
    local log="$1" config="$2" persist="$3" port="$4" inspector=()
    [[ -n "${5:-}" ]] && inspector=(--inspector-port "$5")
    start_bg "$log" wrangler dev --config "$config" --ip 127.0.0.1 --port "$port" "${inspector[@]}" \
        --persist-to "$persist" --show-interactive-dev-session=false "${WRANGLER_DEV_ARGS[@]}"
}

# migrate CONFIG PERSIST LOG: applies the D1 migrations to the local database under PERSIST.
migrate() {
    local config="$1" persist="$2" log="$3"
    if ! wrangler d1 migrations apply edgeauth --local --persist-to "$persist" --config "$config" \
        >"$log" 2>&1; then
        show_log_tail "migrations" "$log"
        return 1
    fi
}
