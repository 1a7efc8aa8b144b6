-- wrk script of bench/stack: every request carries a PHPSESSID cookie drawn
-- at random from a pool of ids, and done() prints one JSON line (prefixed
-- "SKRESULT ") with the counts and the latency percentiles in microseconds.
--
-- wrk ... -s pool.lua URL -- <id prefix> <digits> <pool size> <path>
-- id i of the pool is <id prefix> .. string.format("%0<digits>d", i).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local pool = 0

function init(args)
  local prefix, digits, path = args[1], tonumber(args[2]), args[4]
  pool = tonumber(args[3])
  math.randomseed(os.time() + 7919 * (tid or 0))
  local fmt = "%0" .. digits .. "d"
  for i = 1, pool do
    local id = prefix .. string.format(fmt, i - 1)
    reqs[i] = wrk.format("GET", path, { ["Cookie"] = "PHPSESSID=" .. id })
  end
end

function request()
  return reqs[math.random(pool)]
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = function(q) return latency:percentile(q) end
  io.write(string.format(
    'SKRESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    p(50), p(90), p(99), p(99.9), latency.max, latency.mean))
end
