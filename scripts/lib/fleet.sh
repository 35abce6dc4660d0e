# A fleet of local `wrangler dev` instances of the built Worker, each with its own settings:
# shellcheck shell=bash
# sourced by scripts/test and scripts/bench after lib/common.sh, never run.
#
# Each instance NAME lives in STATE_DIR/NAME/:
#   wrangler.toml   generated from the root one (absolute paths, no [build] section)
#   .dev.vars       its settings: wrangler reads the .dev.vars beside the configuration file,
#                   so the developer's root .dev.vars never reaches a test instance
#   persist/        its local D1 and KV (--persist-to), wiped at each run; a replica has none;
#                   a lagging instance's holds its own KV (v3/kv) and, as v3/d1, a symlink to
#                   its instance's D1 (wrangler keeps D1 under v3/d1 and KV under v3/kv)
#   migrate.log     output of `wrangler d1 migrations apply`
#   wrangler.log    output of `wrangler dev`
#
# Usage: fleet_add NAME 'KEY=value' …  (once per instance; FLEET_BUILD[NAME]=build-faults
# runs the fault-injection build instead of build/), fleet_replica NAME OF (a second
# `wrangler dev` of an instance declared before), fleet_lagging NAME OF (a second `wrangler
# dev` of it on its D1 but an empty KV of its own), then fleet_up STATE_DIR; the base URL of NAME
# is then ${FLEET_URL[NAME]}, its --persist-to directory ${FLEET_PERSIST[NAME]}. stop_started
# (lib/common.sh) stops them all.
#
# FLEET_SERVICE[NAME]='BINDING SCRIPT KEY=value…' gives NAME (and its replicas) a Service
# Binding BINDING to a Worker of its own, SCRIPT (a JavaScript module, vars KEY=value), run in
# the same `wrangler dev` as a second configuration (service.toml beside wrangler.toml).

FLEET_NAMES=()
declare -A FLEET_VARS=() FLEET_URL=() FLEET_PID=() FLEET_DIR=() FLEET_PERSIST=() FLEET_REPLICA_OF=()
declare -A FLEET_D1_OF=()
declare -A FLEET_INSPECTOR_PORT=() FLEET_BUILD=() FLEET_SERVICE=()
# FLEET_LIMITS[NAME]='BINDING=LIMIT …' sets rate-limit bindings' limits for NAME
# (scripts/lib/instance_config.py); an instance without an entry gets FLEET_DEFAULT_LIMITS.
declare -A FLEET_LIMITS=()
FLEET_DEFAULT_LIMITS=""
# Ports chosen already for something else (scripts/test: the identity provider, which starts
# after the fleet): fleet_up never hands them to an instance.
FLEET_AVOID_PORTS=()
FLEET_RETRYING=0

# fleet_add NAME SETTING…: declares an instance and the lines of its .dev.vars.
fleet_add() {
    local name="$1"
    shift
    FLEET_NAMES+=("$name")
    FLEET_VARS[$name]="$(printf '%s\n' "$@")"
}

# fleet_replica NAME OF: declares NAME, another `wrangler dev` of instance OF (declared before)
# that serves the same persisted state: the same --persist-to directory (its D1 and KV, so a
# step begun on one can finish on the other) and the same .dev.vars values. It has its own
# directory for its configuration and log, is not migrated (OF's migrations are its), and
# starts once OF answers.
fleet_replica() {
    local name="$1" of="$2"
    [[ -n "${FLEET_VARS[$of]+set}" && -z "${FLEET_REPLICA_OF[$of]:-}" ]] ||
        die "fleet_replica $name $of: declare the instance $of with fleet_add first"
    FLEET_NAMES+=("$name")
    FLEET_VARS[$name]="${FLEET_VARS[$of]}"
    FLEET_REPLICA_OF[$name]="$of"
}

# fleet_stage NAME OF 'KEY=value'…: like fleet_replica (OF's D1 and KV), but its .dev.vars are
# OF's with each KEY given replaced or added: the same deployment at another moment of a
# configuration change (a SECRET rotation's stages), serving the same stored state.
fleet_stage() {
    local name="$1" of="$2" setting key vars
    shift 2
    fleet_replica "$name" "$of"
    vars="${FLEET_VARS[$of]}"
    for setting in "$@"; do
        key="${setting%%=*}"
        vars="$(printf '%s\n' "$vars" | grep -v "^$key=" || true)"
        vars+=$'\n'"$setting"
    done
    FLEET_VARS[$name]="$vars"
}

# fleet_lagging NAME OF: declares NAME, another `wrangler dev` of instance OF (declared before)
# with OF's .dev.vars values and OF's D1, but a KV of its own that starts empty and never sees
# OF's writes: like another Cloudflare location whose KV has not caught up (KV does not
# promise read-after-write even in one location, takes 60 s or more to reach others, and
# caches a "not found"). Its --persist-to directory is its own; its v3/d1 is a symlink to
# OF's. Like a replica, it is not migrated and starts once OF answers.
fleet_lagging() {
    local name="$1" of="$2"
    fleet_replica "$name" "$of"
    FLEET_D1_OF[$name]="$of"
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
    for name in "${FLEET_NAMES[@]}"; do
        if [[ ! -f "$ROOT/${FLEET_BUILD[$name]:-build}/worker/shim.mjs" ]]; then
            error "the Worker is not built into ${FLEET_BUILD[$name]:-build}/: run scripts/build-worker"
            return 1
        fi
    done
    mkdir -p "$state"

    started="$(now)"
    for name in "${FLEET_NAMES[@]}"; do
        dir="$state/$name"
        FLEET_DIR[$name]="$dir"
        FLEET_PERSIST[$name]="$dir/persist"
        rm -rf "$dir/persist" "$dir/.wrangler"
        mkdir -p "$dir"
        EDGEAUTH_INSTANCE_LIMITS="${FLEET_LIMITS[$name]-$FLEET_DEFAULT_LIMITS}" \
            python3 "$ROOT/scripts/lib/instance_config.py" "$ROOT/wrangler.toml" "$dir/wrangler.toml" \
            "$name" "${FLEET_BUILD[$name]:-build}" "$(fleet_service "$name")"
        (umask 077 && printf '%s\n' "${FLEET_VARS[$name]}" >"$dir/.dev.vars")
    done
    local of migrated=()
    for name in "${FLEET_NAMES[@]}"; do
        of="${FLEET_REPLICA_OF[$name]:-}"
        if [[ -n "$of" && -z "${FLEET_D1_OF[$name]:-}" ]]; then
            FLEET_PERSIST[$name]="${FLEET_PERSIST[$of]}"
        fi
    done

    # Migrations in parallel: each is a node process that mostly waits on its own startup.
    # A replica shares its instance's database, migrated once.
    for name in "${FLEET_NAMES[@]}"; do
        if [[ -n "${FLEET_REPLICA_OF[$name]:-}" ]]; then
            continue
        fi
        dir="${FLEET_DIR[$name]}"
        migrate "$dir/wrangler.toml" "${FLEET_PERSIST[$name]}" "$dir/migrate.log" &
        pids+=($!)
        migrated+=("$name")
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" || failed+=("${migrated[i]}")
    done
    if ((${#failed[@]})); then
        error "D1 migrations failed for: ${failed[*]} (logs: $state/<name>/migrate.log)"
        return 1
    fi
    say "fleet: migrations applied to ${#migrated[@]} instances ($(since "$started"))"
    # A lagging instance's D1 is its instance's, migrated above: its v3/d1 links there.
    for name in "${FLEET_NAMES[@]}"; do
        of="${FLEET_D1_OF[$name]:-}"
        [[ -n "$of" ]] || continue
        if [[ ! -d "${FLEET_PERSIST[$of]}/v3/d1" ]]; then
            error "fleet: $of has no D1 under ${FLEET_PERSIST[$of]}/v3/d1 for $name to share"
            return 1
        fi
        mkdir -p "${FLEET_PERSIST[$name]}/v3"
        ln -s "${FLEET_PERSIST[$of]}/v3/d1" "${FLEET_PERSIST[$name]}/v3/d1"
    done

    fleet_pick_ports "${FLEET_NAMES[@]}"
    started="$(now)"
    # Replicas (lagging ones too) start once their instance answers: two workerd processes
    # opening one SQLite database at the same moment make one of them fail to start
    # (SQLITE_BUSY).
    local first=() replicas=()
    for name in "${FLEET_NAMES[@]}"; do
        if [[ -n "${FLEET_REPLICA_OF[$name]:-}" ]]; then
            replicas+=("$name")
        else
            first+=("$name")
        fi
    done
    fleet_start "$state" "${first[@]}" || return 1
    # One replica at a time, for the same reason: they open the same database too.
    for name in "${replicas[@]}"; do
        # Fresh ports, chosen now: while the first instances started, their wrangler and
        # workerd processes bound ephemeral ports of their own, which may include the ones
        # picked earlier (a replica then "answered" from another instance's proxy).
        fleet_pick_ports "$name"
        fleet_start "$state" "$name" || return 1
    done
    say "fleet: ${#FLEET_NAMES[@]} instances answering ($(since "$started"))"
}

# fleet_pick_ports NAME…: two free ports per instance (HTTP and the inspector, which must
# differ too), chosen together and away from FLEET_AVOID_PORTS.
fleet_pick_ports() {
    local ports name i=0
    while :; do
        read -r -a ports <<<"$(free_ports $((2 * $#)))"
        ports_overlap "${ports[*]}" "${FLEET_AVOID_PORTS[*]}" || break
    done
    for name in "$@"; do
        FLEET_URL[$name]="http://127.0.0.1:${ports[i]}"
        FLEET_INSPECTOR_PORT[$name]="${ports[i + 1]}"
        i=$((i + 2))
    done
}

# fleet_service NAME: NAME's FLEET_SERVICE, or its instance's for a replica (empty: none).
fleet_service() {
    local name="$1" of="${FLEET_REPLICA_OF[$1]:-}"
    if [[ -n "${FLEET_SERVICE[$name]:-}" ]]; then
        printf '%s' "${FLEET_SERVICE[$name]}"
    elif [[ -n "$of" ]]; then
        printf '%s' "${FLEET_SERVICE[$of]:-}"
    fi
}

# fleet_start STATE_DIR NAME…: starts the instances NAME… (ports and persist directories
# chosen by fleet_up) and waits until each answers HTTP.
fleet_start() {
    local state="$1" name dir failed=()
    shift
    for name in "$@"; do
        dir="${FLEET_DIR[$name]}"
        # A Service Binding's Worker runs in the same `wrangler dev`, as a second configuration.
        local WRANGLER_DEV_ARGS=("${WRANGLER_DEV_ARGS[@]}")
        [[ -f "$dir/service.toml" ]] && WRANGLER_DEV_ARGS+=(--config "$dir/service.toml")
        # EDGEAUTH_SKIP_BUILD: belt and braces, should a configuration ever carry [build] again.
        EDGEAUTH_SKIP_BUILD=1 start_wrangler "$dir/wrangler.log" "$dir/wrangler.toml" \
            "${FLEET_PERSIST[$name]}" "${FLEET_URL[$name]##*:}" "${FLEET_INSPECTOR_PORT[$name]}"
        FLEET_PID[$name]="$BG_PID"
    done
    local busy=()
    for name in "$@"; do
        if ! wait_http "${FLEET_URL[$name]}/healthz" "${FLEET_PID[$name]}" "${EDGEAUTH_FLEET_TIMEOUT:-90}"; then
            # A free port picked a moment ago can be taken meanwhile by another instance's
            # wrangler or workerd (they bind ephemeral ports): then pick again, once.
            if ((!FLEET_RETRYING)) && grep -q "Address already in use" "${FLEET_DIR[$name]}/wrangler.log"; then
                stop_pid "${FLEET_PID[$name]}"
                busy+=("$name")
                continue
            fi
            show_log_tail "$name" "${FLEET_DIR[$name]}/wrangler.log"
            failed+=("$name")
        fi
    done
    if ((${#busy[@]})); then
        say "fleet: ports taken meanwhile for ${busy[*]}; starting them on other ports"
        fleet_pick_ports "${busy[@]}"
        FLEET_RETRYING=1 fleet_start "$state" "${busy[@]}" || failed+=("${busy[@]}")
    fi
    if ((${#failed[@]})); then
        error "did not come up: ${failed[*]} (logs: $state/<name>/wrangler.log)"
        return 1
    fi
}
