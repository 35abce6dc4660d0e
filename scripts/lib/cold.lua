-- wrk script for scripts/bench's cold-cache row: every request presents the next of the
-- tokens listed in the file EDGEAUTH_BENCH_TOKENS (one per line) on GET /api/auth/whoami in
-- project `default`, so that the Worker sees thousands of distinct valid tokens.
local tokens = {}
for line in io.lines(os.getenv("EDGEAUTH_BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local next_index

function init(args)
  -- Each wrk thread, and each run (the warm-up, then the measured one), starts somewhere
  -- else: an unseeded math.random gives every run the same start, so the measured run would
  -- present first the tokens the warm-up made the Worker remember.
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
  next_index = math.random(#tokens)
end

function request()
  next_index = next_index % #tokens + 1
  return wrk.format("GET", "/api/auth/whoami", {
    ["Authorization"] = "Bearer " .. tokens[next_index],
    ["X-Project"] = "default",
  })
end
