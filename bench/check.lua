-- wrk: compares every response with the expected page, byte for byte, for bench/bench.mjs.
-- Its first argument (after --) is a file holding the expected body; the status must be 200.
-- Each thread counts in its own Lua state; done() adds them up. Used for a separate check run,
-- never for a timed one: a response() function makes wrk hand every body to Lua.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  expected = file:read("*a")
  file:close()
  matched = 0
  differed = 0
end

function response(status, headers, body)
  if status == 200 and body == expected then
    matched = matched + 1
  else
    differed = differed + 1
  end
end

function done(summary, latency, requests)
  local m, d = 0, 0
  for _, thread in ipairs(threads) do
    m = m + thread:get("matched")
    d = d + thread:get("differed")
  end
  io.write(string.format('BENCH_CHECK {"requests":%d,"matched":%d,"differed":%d}\n',
    summary.requests, m, d))
end
