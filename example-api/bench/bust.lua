-- Cache busting: every request asks post-dynamics for a random window, so each one is
-- likely a new cache key. BUST_LO..BUST_HI hours in steps of BUST_STEP (from bust.sh).
-- Prints one line: BUST <requests> <200> <400> <429> <other> <p50 us> <p99 us>.
local lo = tonumber(os.getenv("BUST_LO") or "1000")
local hi = tonumber(os.getenv("BUST_HI") or "2160")
local step = tonumber(os.getenv("BUST_STEP") or "1")
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  ok, bad, limited, other = 0, 0, 0, 0
end

request = function()
  local hours = lo + step * math.random(0, math.floor((hi - lo) / step))
  return wrk.format("GET", "/analytics/demo/post-dynamics?hours=" .. hours)
end

response = function(status)
  if status == 200 then ok = ok + 1
  elseif status == 400 then bad = bad + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end

done = function(summary, latency)
  local s = { 0, 0, 0, 0 }
  for _, t in ipairs(threads) do
    s[1] = s[1] + t:get("ok"); s[2] = s[2] + t:get("bad")
    s[3] = s[3] + t:get("limited"); s[4] = s[4] + t:get("other")
  end
  io.write(string.format("BUST %d %d %d %d %d %.0f %.0f\n", summary.requests,
    s[1], s[2], s[3], s[4], latency:percentile(50), latency:percentile(99)))
end
