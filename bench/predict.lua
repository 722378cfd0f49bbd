-- wrk script for bench/serve_bench.sh: POST /v1/predict with the JSON body in $CTML_BENCH_BODY
-- (passed through the environment so that no patient id is written to a file), count the
-- responses that are not 2xx and the ones answered from the prediction cache, and print one
-- machine-readable line at the end:
--   CTML_BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N max_us=N
--              non2xx=N cached=N socket_errors=N
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("CTML_BENCH_BODY") or error("CTML_BENCH_BODY is not set")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  cached = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif string.find(body, '"cached":true', 1, true) then
    cached = cached + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, cached_total = 0, 0
  for _, t in ipairs(threads) do
    non2xx_total = non2xx_total + t:get("non2xx")
    cached_total = cached_total + t:get("cached")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "CTML_BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d cached=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    non2xx_total, cached_total, e.connect + e.read + e.write + e.timeout))
end
