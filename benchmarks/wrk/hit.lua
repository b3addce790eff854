-- Hits: cycle GET /items/{1..N}?fields=name,price (N = first script argument, default 50).
-- done() prints one machine-readable line for benchmarks/run.py.
local reqs = {}
local i = 0

function init(args)
  local n = tonumber(args[1]) or 50
  for id = 1, n do
    reqs[id] = wrk.format("GET", "/items/" .. id .. "?fields=name,price")
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
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
