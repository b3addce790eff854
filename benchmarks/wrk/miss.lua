-- Misses: every request a distinct cold key, GET /items/{base + k}?fields=name,price
-- (base = first script argument). One wrk thread is used, so k is unique per run.
local base = 0
local k = 0

function init(args)
  base = tonumber(args[1]) or 1000000
end

function request()
  k = k + 1
  return wrk.format("GET", "/items/" .. (base + k) .. "?fields=name,price")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d "
      .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
