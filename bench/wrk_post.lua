-- wrk script for bench/run.py: POST an OpenAI chat completion and print a JSON summary.
-- Usage: wrk -t1 -c64 -d10s -s bench/wrk_post.lua http://127.0.0.1:PORT/v1/chat/completions -- [stream]
-- done() prints one line "BENCHJSON {...}" (latencies in microseconds), parsed by bench/run.py.

local stream = false

function init(args)
  stream = args[1] == "stream"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "sk-bench-client")
  -- BENCH_HEADERS: more headers, one "Name: value" per line (a peer gateway's routing headers)
  for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+):%s*([^\n]*)") do
    wrk.headers[name] = value
  end
  -- streaming asks for the usage chunk, as a gateway does for its metrics: same upstream work for all
  local flag = stream and ',"stream":true,"stream_options":{"include_usage":true}' or ""
  wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]' .. flag .. '}'
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 75, 90, 99, 99.9}) do
    p[#p + 1] = string.format('"%s":%d', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"stdev":%.1f,"percentiles":{%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency.stdev, table.concat(p, ",")))
end
