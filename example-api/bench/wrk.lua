-- Request shape from the environment (set by load.sh), and one machine-readable
-- summary line: RESULT <req/s> <p50 us> <p99 us> <non-2xx> <requests>.
wrk.method = os.getenv("WRK_METHOD") or "GET"
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local gzip = os.getenv("WRK_GZIP")
if gzip and gzip ~= "" then wrk.headers["Accept-Encoding"] = "gzip" end
local inm = os.getenv("WRK_IF_NONE_MATCH")
if inm and inm ~= "" then wrk.headers["If-None-Match"] = inm end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.0f %.0f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), errors, summary.requests))
end
