# A fleet of local `wrangler dev` instances of the built Worker, each with its own settings:
# shellcheck shell=bash
# sourced by scripts/test and scripts/bench after lib/common.sh, never run.
#
# Each instance NAME lives in STATE_DIR/NAME/:
#   wrangler.toml   generated from the root one (absolute paths, no [build] section)
#   .dev.vars       its settings: wrangler reads the .dev.vars beside the configuration file,
#                   so the developer's root .dev.vars never reaches a test instance
#   persist/        its local D1 and KV (--persist-to), wiped at each run
#   migrate.log     output of `wrangler d1 migrations apply`
#   wrangler.log    output of `wrangler dev`
#
# Usage: fleet_add NAME 'KEY=value' …  (once per instance), then fleet_up STATE_DIR; the base
# URL of NAME is then ${FLEET_URL[NAME]}. stop_started (lib/common.sh) stops them all.

FLEET_NAMES=()
declare -A FLEET_VARS=() FLEET_URL=() FLEET_PID=() FLEET_DIR=()
# Ports chosen already for something else (scripts/test: the identity provider, which starts
# after the fleet): fleet_up never hands them to an instance.
FLEET_AVOID_PORTS=()

# fleet_add NAME SETTING…: declares an instance and the lines of its .dev.vars.
fleet_add() {
    local name="$1"
    shift
    FLEET_NAMES+=("$name")
    FLEET_VARS[$name]="$(printf '%s\n' "$@")"
}

# ports_overlap "A B …" "C D …": whether two space-separated port lists share a port.
ports_overlap() {
    local port
    for port in $1; do
        [[ " $2 " == *" $port "* ]] && return 0
    done
    return 1
}

# fleet_up STATE_DIR: prepares, migrates and starts every declared instance in parallel,
# and waits until each answers HTTP. The Worker must be built already (build/worker/shim.mjs).
fleet_up() {
    local state="$1" name dir pids=() failed=() ports i started
    if [[ ! -f "$ROOT/build/worker/shim.mjs" ]]; then
        error "the Worker is not built: run scripts/build-worker"
        return 1
    fi
    mkdir -p "$state"

    started="$(now)"
    for name in "${FLEET_NAMES[@]}"; do
        dir="$state/$name"
        FLEET_DIR[$name]="$dir"
        rm -rf "$dir/persist" "$dir/.wrangler"
        mkdir -p "$dir"
        python3 "$ROOT/scripts/lib/instance_config.py" "$ROOT/wrangler.toml" "$dir/wrangler.toml" "$name"
        (umask 077 && printf '%s\n' "${FLEET_VARS[$name]}" >"$dir/.dev.vars")
    done

    # Migrations in parallel: each is a node process that mostly waits on its own startup.
    for name in "${FLEET_NAMES[@]}"; do
        dir="${FLEET_DIR[$name]}"
        migrate "$dir/wrangler.toml" "$dir/persist" "$dir/migrate.log" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" || failed+=("${FLEET_NAMES[i]}")
    done
    if ((${#failed[@]})); then
        error "D1 migrations failed for: ${failed[*]} (logs: $state/<name>/migrate.log)"
        return 1
    fi
    say "fleet: migrations applied to ${#FLEET_NAMES[@]} instances ($(since "$started"))"

    # Two ports per instance (HTTP and the inspector, which must differ too), chosen together.
    while :; do
        read -r -a ports <<<"$(free_ports $((2 * ${#FLEET_NAMES[@]})))"
        ports_overlap "${ports[*]}" "${FLEET_AVOID_PORTS[*]}" || break
    done
    started="$(now)"
    i=0
    for name in "${FLEET_NAMES[@]}"; do
        dir="${FLEET_DIR[$name]}"
        FLEET_URL[$name]="http://127.0.0.1:${ports[i]}"
        # EDGEAUTH_SKIP_BUILD: belt and braces, should a configuration ever carry [build] again.
        EDGEAUTH_SKIP_BUILD=1 start_wrangler "$dir/wrangler.log" "$dir/wrangler.toml" \
            "$dir/persist" "${ports[i]}" "${ports[i + 1]}"
        FLEET_PID[$name]="$BG_PID"
        i=$((i + 2))
    done
    failed=()
    for name in "${FLEET_NAMES[@]}"; do
        if ! wait_http "${FLEET_URL[$name]}/healthz" "${FLEET_PID[$name]}" "${EDGEAUTH_FLEET_TIMEOUT:-90}"; then
            show_log_tail "$name" "${FLEET_DIR[$name]}/wrangler.log"
            failed+=("$name")
        fi
    done
    if ((${#failed[@]})); then
        error "did not come up: ${failed[*]} (logs: $state/<name>/wrangler.log)"
        return 1
    fi
    say "fleet: ${#FLEET_NAMES[@]} instances answering ($(since "$started"))"
}
