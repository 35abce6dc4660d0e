#!/usr/bin/env bash
# Tests scripts/deploy without a Cloudflare account: `--dry-run` with complete settings (the
# real Worker bundled by `wrangler deploy --dry-run`, no secret value printed or written), each
# refusal, by exit code and the message that names the setting, and three deployments in a row
# to a pretend account (scripts/lib/fake_wrangler.sh standing in for wrangler): what is
# created, found, stored, kept and printed. scripts/test runs it as
# a step after building the Worker (with EDGEAUTH_SKIP_BUILD=1: the bundle is of that build);
# by hand: scripts/lib/test_deploy.sh (about 5 s once the Worker is built).
#
# State under .state/test-deploy (EDGEAUTH_DEPLOY_STATE), never a real deployment's; the
# developer's deploy.env and environment never reach the runs (--env-file and env -i).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

work="$ROOT/.state/test-deploy"
rm -rf "$work"
mkdir -p "$work"
export EDGEAUTH_DEPLOY_STATE="$work/state"

client_secret="client-secret-$(random_hex 16)"
super_token="a-super-token-brought-$(random_hex 16)"
# The complete settings of a deployment on workers.dev.
cat >"$work/deploy.env" <<EOF
# a comment, and a blank line

PUBLIC_URL=https://edgeauth.example-team.workers.dev/
OIDC_ISSUER="https://accounts.example.com"
OIDC_CLIENT_ID=edgeauth-client
OIDC_CLIENT_SECRET='$client_secret'
ALLOWED_TEAMS=staff
ADMIN_TEAMS=admins
OIDC_SCOPES=openid email profile groups
EOF

# The runs' environment: the tools' paths only, so no setting of the developer's reaches them.
clean_env=(env -i "PATH=$PATH" "HOME=$HOME" "EDGEAUTH_DEPLOY_STATE=$EDGEAUTH_DEPLOY_STATE")
for var in CARGO_HOME RUSTUP_HOME CARGO_TARGET_DIR TMPDIR LANG TERM EDGEAUTH_SKIP_BUILD; do
    [[ -n "${!var:-}" ]] && clean_env+=("$var=${!var}")
done

FAILURES=0 RUNS=0
# deploy NAME [KEY=value…] -- ARGS…: runs scripts/deploy with the test settings file plus
# KEY=value in its environment; its output in $work/NAME.out, its exit code in $rc.
deploy() {
    local name="$1" assignments=()
    shift
    while [[ "$1" != -- ]]; do
        assignments+=("$1")
        shift
    done
    shift
    rc=0
    "${clean_env[@]}" "${assignments[@]}" scripts/deploy --env-file "${ENV_FILE:-$work/deploy.env}" "$@" \
        >"$work/$name.out" 2>&1 || rc=$?
    RUNS=$((RUNS + 1))
}
fail() {
    error "$1"
    show_log_tail "$2" "$work/$2.out"
    FAILURES=$((FAILURES + 1))
}
# refused NAME MESSAGE [KEY=value…]: a dry run with these settings exits 1 saying MESSAGE.
refused() {
    local name="$1" message="$2"
    shift 2
    deploy "$name" "$@" -- --dry-run
    if ((rc != 1)); then
        fail "$name: scripts/deploy exited $rc, not 1" "$name"
    elif ! grep -qF -- "$message" "$work/$name.out"; then
        fail "$name: scripts/deploy did not say: $message" "$name"
    else
        printf '  ok  refused: %s\n' "$name"
    fi
}

# --- the dry run ------------------------------------------------------------------------
committed_sum="$(sha256sum wrangler.toml)"
deploy dry-run -- --dry-run
generated="$EDGEAUTH_DEPLOY_STATE/wrangler.toml"
# Kept for the deployment check's own tests below (the refusals write the file again).
cp "$generated" "$work/dry-run.toml" 2>/dev/null || true
if ((rc != 0)); then
    fail "dry-run: scripts/deploy --dry-run exited $rc" dry-run
else
    checks=(
        "every wrangler command it would run|grep -qF 'would run: npx wrangler d1 create edgeauth' '$work/dry-run.out' && grep -qF 'would run: npx wrangler kv namespace create edgeauth-codes' '$work/dry-run.out' && grep -qF 'would run: npx wrangler d1 migrations apply DB --remote' '$work/dry-run.out' && grep -qF 'would run: npx wrangler secret put SUPER_TOKEN_HASH' '$work/dry-run.out' && grep -qF 'would run: npx wrangler deploy --config' '$work/dry-run.out'"
        "the real Worker bundled|ls '$EDGEAUTH_DEPLOY_STATE'/dist/*.wasm >/dev/null && test -s '$EDGEAUTH_DEPLOY_STATE/dist/shim.js'"
        "the settings as vars, PUBLIC_URL without its slash|grep -qx 'PUBLIC_URL = \"https://edgeauth.example-team.workers.dev\"' '$generated' && grep -qx 'OIDC_SCOPES = \"openid email profile groups\"' '$generated' && grep -qx 'ALLOWED_TEAMS = \"staff\"' '$generated'"
        "fake ids and no [build]|grep -qx 'database_id = \"dry-run-fake-d1-database-id\"' '$generated' && ! grep -q '^\[build\]' '$generated'"
        "the committed wrangler.toml untouched|[[ \"\$(sha256sum wrangler.toml)\" == '$committed_sum' ]]"
        "no secret value anywhere|! grep -rqF '$client_secret' '$work/dry-run.out' '$EDGEAUTH_DEPLOY_STATE/wrangler.toml' '$EDGEAUTH_DEPLOY_STATE/wrangler.log'"
        "the generated configuration passes the deployment check in a dry run|python3 scripts/lib/deploy_config.py check '$generated' --dry-run"
    )
    for check in "${checks[@]}"; do
        if bash -c "${check#*|}"; then
            printf '  ok  dry run: %s\n' "${check%%|*}"
        else
            fail "dry run: ${check%%|*}" dry-run
        fi
    done
fi

# deploy.env.example documents every setting scripts/deploy takes.
RUNS=$((RUNS + 1))
known="$(eval "$(sed -n '/^VARS=(/,/^REFUSED=(/p' scripts/deploy)" && echo "${VARS[*]} ${SECRETS[*]} ${DEPLOY_ONLY[*]}")"
undocumented=()
for key in $known; do
    grep -qE "^(# )?$key=" deploy.env.example || undocumented+=("$key")
done
if ((${#undocumented[@]})); then
    error "deploy.env.example does not document: ${undocumented[*]}"
    FAILURES=$((FAILURES + 1))
else
    printf '  ok  deploy.env.example documents all %s settings\n' "$(wc -w <<<"$known")"
fi

# --- refusals, each by name ---------------------------------------------------------------
refused missing-setting "OIDC_CLIENT_ID is missing" OIDC_CLIENT_ID=
refused missing-teams "ALLOWED_TEAMS is missing" ALLOWED_TEAMS=
refused placeholder-d1-id "the D1 database_id of binding DB is a placeholder" \
    D1_DATABASE_ID=00000000-0000-0000-0000-000000000000
refused placeholder-kv-id "the KV namespace id of binding CODES is a placeholder" \
    KV_NAMESPACE_ID=00000000000000000000000000000000
refused empty-super-token "SUPER_TOKEN: is set but empty" SUPER_TOKEN=
refused empty-string-hash "SUPER_TOKEN_HASH: is the SHA-256 of the empty string" \
    "SUPER_TOKEN_HASH=$(sha256_hex "")"
refused token-and-hash "SUPER_TOKEN_HASH: set either SUPER_TOKEN or SUPER_TOKEN_HASH, not both" \
    "SUPER_TOKEN=$super_token" "SUPER_TOKEN_HASH=$(sha256_hex "$super_token")"
refused short-secret "SECRET: must be at least 32 bytes" SECRET=short
refused discovery-url-as-issuer "OIDC_ISSUER: is the discovery document's URL" \
    OIDC_ISSUER=https://accounts.example.com/.well-known/openid-configuration
refused plain-http-url "PUBLIC_URL must be an https origin" PUBLIC_URL=http://auth.example.com
refused loopback-url "PUBLIC_URL names this machine" PUBLIC_URL=https://127.0.0.1:8787
refused other-workers-dev-host "PUBLIC_URL is on workers.dev but not the Worker's host there" \
    PUBLIC_URL=https://other.example-team.workers.dev
refused auth-disabled "AUTH_DISABLED is set" AUTH_DISABLED=true
refused secret-previous "SECRET_PREVIOUS is set" "SECRET_PREVIOUS=$(random_hex 32)"
cp "$work/deploy.env" "$work/unknown.env"
printf 'NOT_A_SETTING=1\n' >>"$work/unknown.env"
ENV_FILE="$work/unknown.env" refused unknown-setting "sets NOT_A_SETTING, which is not a setting scripts/deploy knows"
ENV_FILE="$work/absent.env" refused absent-env-file "absent.env does not exist"
# A Python without tomllib (older than 3.11) first on PATH: refused, saying which Python it needs.
mkdir -p "$work/old-python"
printf '#!/bin/sh\nexit 1\n' >"$work/old-python/python3"
chmod +x "$work/old-python/python3"
refused old-python "scripts/deploy needs Python 3.11 or newer" "PATH=$work/old-python:$PATH"

# The deployment check itself, on configurations a dry run could not produce.
check_refuses() {
    local name="$1" message="$2" file="$work/$1.toml" out
    shift 2
    sed -e '' "$@" "$work/dry-run.toml" >"$file"
    RUNS=$((RUNS + 1))
    if out="$(python3 scripts/lib/deploy_config.py check "$file" 2>&1)"; then
        error "$name: the deployment check accepted it"
        FAILURES=$((FAILURES + 1))
    elif [[ "$out" != *"$message"* ]]; then
        error "$name: the deployment check did not say: $message (it said: $out)"
        FAILURES=$((FAILURES + 1))
    else
        printf '  ok  refused: %s\n' "$name"
    fi
}
check_refuses fake-id-outside-dry-run "the D1 database_id of binding DB is a dry run's fake id"
check_refuses shared-rate-limit-namespace "namespace_id 8628 is also DEVICE_CODE_LIMITER's" \
    -e 's/^namespace_id = "7009"$/namespace_id = "8628"/'
check_refuses committed-placeholders "is a placeholder" \
    -e 's/dry-run-fake-d1-database-id/00000000-0000-0000-0000-000000000000/'

# --- deployments to a pretend account (scripts/lib/fake_wrangler.sh) ----------------------
# The real path, with a stand-in for wrangler: what is created, found, stored and printed.
cloud="$work/cloudflare"
mkdir -p "$cloud"
# On a Custom Domain under .invalid (RFC 6761: never resolves), so that the health check
# reaches nothing.
fake=(EDGEAUTH_DEPLOY_WRANGLER="$ROOT/scripts/lib/fake_wrangler.sh" FAKE_CLOUDFLARE="$cloud"
    EDGEAUTH_DEPLOY_HEALTH_WAIT_S=0 PUBLIC_URL=https://auth.deploy-test.invalid)
# expect NAME DESCRIPTION COMMAND: one check of a deployment run NAME.
expect() {
    RUNS=$((RUNS + 1))
    if bash -c "$3"; then
        printf '  ok  %s: %s\n' "$1" "$2"
    else
        fail "$1: $2" "$1"
    fi
}
# stored NAME: the SHA-256 of the secret NAME as stored (the fake keeps no value).
stored() { cat "$cloud/secrets/$1" 2>/dev/null || true; }
calls_since() { tail -n "+$(($1 + 1))" "$cloud/calls.log"; }

deploy not-logged-in "${fake[@]}" --
expect not-logged-in "refused, saying how to log in" \
    "(($rc == 1)) && grep -qF 'npx wrangler login' '$work/not-logged-in.out' && grep -qF CLOUDFLARE_API_TOKEN '$work/not-logged-in.out'"
touch "$cloud/logged-in"

: >"$cloud/calls.log"
deploy first-deploy "${fake[@]}" --
token="$(grep -oE 'eas_super_[0-9a-f]{64}' "$work/first-deploy.out" | head -n 1 || true)"
d1_id="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["uuid"])' "$cloud/d1.json" 2>/dev/null || true)"
kv_id="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$cloud/kv.json" 2>/dev/null || true)"
expect first-deploy "exits 0" "(($rc == 0))"
expect first-deploy "creates the D1 database and the KV namespace by name" \
    "grep -qx 'd1 create edgeauth' '$cloud/calls.log' && grep -qx 'kv namespace create edgeauth-codes' '$cloud/calls.log'"
expect first-deploy "deploys their ids" \
    "[[ -n '$d1_id' && -n '$kv_id' ]] && grep -qx 'database_id = \"$d1_id\"' '$cloud/deployed.toml' && grep -qx 'id = \"$kv_id\"' '$cloud/deployed.toml'"
expect first-deploy "stores the OIDC client secret" "[[ '$(stored OIDC_CLIENT_SECRET)' == '$(sha256_hex "$client_secret")' ]]"
expect first-deploy "makes a SECRET" "[[ -n '$(stored SECRET)' ]]"
expect first-deploy "prints a super token once and stores only its SHA-256" \
    "[[ -n '$token' && '$(stored SUPER_TOKEN_HASH)' == '$(sha256_hex "$(sha256_hex "$token")")' && \$(grep -cF '$token' '$work/first-deploy.out') == 1 && ! -e '$cloud/secrets/SUPER_TOKEN' ]] && ! grep -rqF '$token' '$EDGEAUTH_DEPLOY_STATE'"
expect first-deploy "migrates before it deploys" \
    "[[ \$(grep -nx 'd1 migrations apply DB --remote --config .*' '$cloud/calls.log' | cut -d: -f1) -lt \$(grep -nx 'deploy --config .*' '$cloud/calls.log' | cut -d: -f1) ]]"
expect first-deploy "prints the callback URL to register" \
    "grep -qF 'https://auth.deploy-test.invalid/api/auth/callback' '$work/first-deploy.out'"
expect first-deploy "makes PUBLIC_URL's host the Worker's Custom Domain" \
    "grep -qx 'pattern = \"auth.deploy-test.invalid\"' '$cloud/deployed.toml' && grep -qx 'custom_domain = true' '$cloud/deployed.toml'"
expect first-deploy "no secret value in its output or log" \
    "! grep -rqF '$client_secret' '$work/first-deploy.out' '$EDGEAUTH_DEPLOY_STATE'"
secret_hash="$(stored SECRET)" super_hash="$(stored SUPER_TOKEN_HASH)"

before="$(wc -l <"$cloud/calls.log")"
deploy second-deploy "${fake[@]}" "SECRET=$(random_hex 32)" --
expect second-deploy "exits 0" "(($rc == 0))"
expect second-deploy "finds the D1 database and the KV namespace: creates nothing" \
    "! tail -n '+$((before + 1))' '$cloud/calls.log' | grep -q create"
expect second-deploy "keeps the Worker's SECRET, even with another one set" \
    "[[ '$(stored SECRET)' == '$secret_hash' ]] && grep -qF 'the Worker has one already' '$work/second-deploy.out'"
expect second-deploy "keeps the super token and prints none" \
    "[[ '$(stored SUPER_TOKEN_HASH)' == '$super_hash' ]] && ! grep -q eas_super_ '$work/second-deploy.out'"

deploy own-super-token "${fake[@]}" "SUPER_TOKEN=$super_token" --
expect own-super-token "stores the SHA-256 of a super token brought, never the token" \
    "(($rc == 0)) && [[ '$(stored SUPER_TOKEN_HASH)' == '$(sha256_hex "$(sha256_hex "$super_token")")' ]] && ! grep -rqF '$super_token' '$work/own-super-token.out' '$EDGEAUTH_DEPLOY_STATE'"

if ((FAILURES)); then
    error "scripts/deploy: $FAILURES of $RUNS checks failed (outputs in ${work#"$ROOT"/})"
    exit 1
fi
say "scripts/deploy: $RUNS checks passed"
