-- The request mix of scripts/bench's soak, for wrk (`wrk -s scripts/lib/soak.lua`).
--
-- Every credential kind on `GET /api/auth/whoami` (and the plain `GET /healthz`), 90 % of
-- the requests, plus 10 % hostile requests the Worker must refuse with a 4xx. Each kind has
-- the status it must get; response() counts, per kind, the answers that differ: those are
-- the soak's errors, with wrk's socket errors and timeouts. done() prints one line per kind
-- and one summary line, for scripts/bench to read:
--   soak-kind NAME valid|hostile EXPECTED SHARE_PERCENT RESPONSES UNEXPECTED STATUS:COUNT,…|- DESCRIPTION
--   soak-total REQUESTS DURATION_US P50_US P99_US CONNECT READ WRITE TIMEOUT
--
-- Run it with as many threads as connections (`-t N -c N`): wrk hands response() no
-- connection, so a thread's answer can be matched to its request only when the thread has a
-- single connection, whose requests and answers alternate.
--
-- The credentials come from the environment (never the command line, which `ps` shows):
--   SOAK_SUPER SOAK_SERVICE SOAK_USER SOAK_ACCESS SOAK_SESSION   valid, one of each kind
--   SOAK_FORGED        a service token of another project (valid checksum, wrong tag)
--   SOAK_MISTYPED      a service token with one character changed (checksum mismatch)
--   SOAK_UNKNOWN_USER  a well-formed user token (valid checksum) that was never issued
--   SOAK_REVOKED       a service token revoked before the soak
--   SOAK_REFRESH       a well-formed refresh token, which is not a bearer credential
--   SOAK_TAMPERED      the access token with its signature altered

-- Weights: 6 valid kinds of 21 and 14 hostile ones of 1, so 14 of every 140 requests (10 %)
-- are hostile, each valid kind 15 %.
local VALID, HOSTILE = 21, 1
local kb4 = string.rep("A", 4096)

-- Each kind: name, weight, the status it must get, method, path, extra headers (`$NAME` in a
-- value is that environment variable), body, and what it is (for the report).
local WHOAMI = "/api/auth/whoami"
local FORM = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local function bearer(var)
    return { Authorization = "Bearer $" .. var }
end
local kinds = {
    { "healthz", VALID, 200, "GET", "/healthz", {}, nil, "`GET /healthz`, no credential" },
    { "super", VALID, 200, "GET", WHOAMI, bearer("SOAK_SUPER"), nil, "super token" },
    { "service", VALID, 200, "GET", WHOAMI, bearer("SOAK_SERVICE"), nil, "service token (remembered: D1 once per 10 s)" },
    { "user", VALID, 200, "GET", WHOAMI, bearer("SOAK_USER"), nil, "user API token (remembered: D1 once per 10 s)" },
    { "access", VALID, 200, "GET", WHOAMI, bearer("SOAK_ACCESS"), nil, "access token of the device flow" },
    { "session", VALID, 200, "GET", WHOAMI, { Cookie = "edgeauth_session=$SOAK_SESSION" }, nil,
        "browser session cookie (remembered: D1 once per 10 s)" },
    { "forged-service", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_FORGED"), nil,
        "service token of project `other`: wrong tag" },
    { "mistyped-service", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_MISTYPED"), nil,
        "service token with one character changed: checksum" },
    { "revoked-service", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_REVOKED"), nil,
        "revoked service token (remembered as revoked)" },
    { "unknown-user", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_UNKNOWN_USER"), nil,
        "`eau_` never issued, valid checksum, no server's tag (no D1 read)" },
    { "refresh-as-bearer", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_REFRESH"), nil,
        "`ear_` refresh token (valid checksum) as a bearer" },
    { "tampered-access", HOSTILE, 401, "GET", WHOAMI, bearer("SOAK_TAMPERED"), nil,
        "access token with its signature altered" },
    { "basic-scheme", HOSTILE, 401, "GET", WHOAMI, { Authorization = "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk" }, nil,
        "`Authorization: Basic …`" },
    { "two-tokens", HOSTILE, 401, "GET", WHOAMI, { Authorization = "Bearer eas_a eau_b" }, nil,
        "`Authorization: Bearer eas_a eau_b`" },
    { "oversized-bearer", HOSTILE, 401, "GET", WHOAMI, { Authorization = "Bearer " .. kb4 }, nil,
        "`Authorization: Bearer` and 4 KiB" },
    { "oversized-cookie", HOSTILE, 401, "GET", WHOAMI, { Cookie = "edgeauth_session=" .. kb4 }, nil,
        "`Cookie: edgeauth_session=` and 4 KiB" },
    { "invalid-project", HOSTILE, 400, "GET", WHOAMI,
        { Authorization = "Bearer $SOAK_SUPER", ["X-Project"] = "../Default" }, nil,
        "super token, `X-Project: ../Default`" },
    -- Over the 16 KiB limit, with its Content-Length: refused before the body is read.
    { "token-body-20k", HOSTILE, 413, "POST", "/api/auth/token", FORM, "grant_type=" .. string.rep("a", 20000),
        "`POST /api/auth/token`, a 20 KiB form (limit 16 KiB)" },
    { "token-form-malformed", HOSTILE, 400, "POST", "/api/auth/token", FORM, "grant_type=%ZZ&&=&device_code",
        "`POST /api/auth/token`, form `grant_type=%ZZ&&=&device_code`" },
    { "token-json-malformed", HOSTILE, 400, "POST", "/api/auth/token", { ["Content-Type"] = "application/json" },
        '{"grant_type": ', "`POST /api/auth/token`, JSON cut short" },
}

local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

-- `$NAME` in a header value is the environment variable NAME, which must be set.
local function expand(value)
    return (value:gsub("%$([%u_]+)", function(name)
        local v = os.getenv(name)
        if v == nil or v == "" then
            error(name .. " is not set")
        end
        return v
    end))
end

-- A fixed shuffle (same for every thread), so that the kinds are interleaved and every cycle
-- of the schedule has them in their exact proportions.
local function schedule()
    local cycle, seed = {}, 1
    for i, k in ipairs(kinds) do
        for _ = 1, k[2] do
            table.insert(cycle, i)
        end
    end
    for i = #cycle, 2, -1 do
        seed = (seed * 1103515245 + 12345) % 2147483648 -- inexact in a double, but the same everywhere
        local j = seed % i + 1
        cycle[i], cycle[j] = cycle[j], cycle[i]
    end
    return cycle
end

local requests, cycle, pos, current = {}, nil, 0, nil
-- Globals, per thread: done() reads them through thread:get (as setup() set `id`).
responses, unexpected, statuses = {}, {}, {}

function init(args)
    for i, k in ipairs(kinds) do
        local headers = { ["X-Project"] = "default" }
        for name, value in pairs(k[6]) do
            headers[name] = expand(value)
        end
        requests[i] = wrk.format(k[4], k[5], headers, k[7])
        responses[k[1]], unexpected[k[1]] = 0, 0
    end
    cycle = schedule()
    -- Threads start at different points of the cycle, so they do not send alike at once.
    pos = (id * 37) % #cycle
end

function request()
    pos = pos % #cycle + 1
    current = cycle[pos]
    return requests[current]
end

function response(status, headers, body)
    local name, expected = kinds[current][1], kinds[current][3]
    responses[name] = responses[name] + 1
    if status ~= expected then
        unexpected[name] = unexpected[name] + 1
        local key = name .. " " .. status
        statuses[key] = (statuses[key] or 0) + 1
    end
end

function done(summary, latency, _)
    local total_weight = 0
    for _, k in ipairs(kinds) do
        total_weight = total_weight + k[2]
    end
    local got, wrong, seen = {}, {}, {}
    for _, thread in ipairs(threads) do
        for name, n in pairs(thread:get("responses")) do
            got[name] = (got[name] or 0) + n
        end
        for name, n in pairs(thread:get("unexpected")) do
            wrong[name] = (wrong[name] or 0) + n
        end
        for key, n in pairs(thread:get("statuses")) do
            seen[key] = (seen[key] or 0) + n
        end
    end
    for _, k in ipairs(kinds) do
        local name, list = k[1], {}
        for key, n in pairs(seen) do
            local kind, status = key:match("^(%S+) (%d+)$")
            if kind == name then
                table.insert(list, status .. ":" .. n)
            end
        end
        table.sort(list)
        io.write(string.format("soak-kind %s %s %d %.2f %d %d %s %s\n", name, k[2] == HOSTILE and "hostile" or "valid",
            k[3], 100 * k[2] / total_weight, got[name] or 0, wrong[name] or 0,
            #list > 0 and table.concat(list, ",") or "-", k[8]))
    end
    local e = summary.errors
    io.write(string.format("soak-total %d %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.timeout))
end
