#!/usr/bin/env bash
# A stand-in for `wrangler` with a pretend Cloudflare account in the directory $FAKE_CLOUDFLARE,
# for scripts/lib/test_deploy.sh (EDGEAUTH_DEPLOY_WRANGLER): the commands scripts/deploy runs,
# answering in wrangler 4.86's formats (d1 list --json, kv namespace list, secret list; a
# secret list for a Worker that does not exist fails saying `Worker "NAME" not found.`). Records each
# call in calls.log (arguments only; values come on stdin), the D1 databases and KV namespaces
# in d1.json and kv.json, each secret's SHA-256 in secrets/NAME, and the configuration each
# deploy used in deployed.toml.
set -euo pipefail
state="${FAKE_CLOUDFLARE:?FAKE_CLOUDFLARE is not set}"
mkdir -p "$state/secrets"
[[ -f "$state/d1.json" ]] || echo '[]' >"$state/d1.json"
[[ -f "$state/kv.json" ]] || echo '[]' >"$state/kv.json"
printf '%s\n' "$*" >>"$state/calls.log"

# add LIST NAME_KEY NAME ID_KEY: appends {NAME_KEY: NAME, ID_KEY: <new id>} to LIST.
add() {
    python3 - "$state/$1" "$2" "$3" "$4" <<'EOF'
import json, sys, uuid
path, name_key, name, id_key = sys.argv[1:]
items = json.load(open(path))
new_id = str(uuid.uuid4()) if id_key == "uuid" else uuid.uuid4().hex
items.append({name_key: name, id_key: new_id})
json.dump(items, open(path, "w"))
print(new_id)
EOF
}
# The config file given with --config, if any.
config=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [[ "${args[i]}" == --config ]] && config="${args[i + 1]}"
done

case "$1 ${2:-} ${3:-}" in
"whoami --json "*) [[ -f "$state/logged-in" ]] || { echo "Not logged in." >&2; exit 1; }
    echo '{"loggedIn": true}' ;;
"d1 list --json") cat "$state/d1.json" ;;
"d1 create "*) echo "✅ Successfully created DB '$3'"
    echo "database_id = \"$(add d1.json name "$3" uuid)\"" ;;
"kv namespace list") cat "$state/kv.json" ;;
"kv namespace create") echo "🌀 Creating namespace with title \"$4\""
    echo "id = \"$(add kv.json title "$4" id)\"" ;;
"secret list "*)
    if [[ ! -f "$state/worker-exists" ]]; then
        name="$(sed -n 's/^name = "\(.*\)"$/\1/p' "$config" | head -n 1)"
        printf '✘ [ERROR] Worker "%s" not found.\n\nIf this is a new Worker, run %s first to create it.\n' \
            "$name" "\`wrangler deploy\`" >&2
        exit 1
    fi
    printf '\n ⛅️ wrangler 4.86.0\n───────────────────\n'   # its banner, as wrangler prints it here
    (cd "$state/secrets" && ls) | python3 -c 'import json, sys
print(json.dumps([{"name": n, "type": "secret_text"} for n in sys.stdin.read().split()]))' ;;
"secret put "*)
    value="$(cat)"
    [[ -n "$value" ]] || { echo "empty secret" >&2; exit 1; }
    printf %s "$value" | sha256sum | cut -d' ' -f1 >"$state/secrets/$3"
    touch "$state/worker-exists"
    echo "✨ Success! Uploaded secret $3" ;;
"d1 migrations apply"*) echo "migrations applied" ;;
"deploy --config "*) cp "$config" "$state/deployed.toml"
    touch "$state/worker-exists"
    echo "Deployed" ;;
*) echo "fake wrangler: unexpected command: $*" >&2
    exit 1 ;;
esac
