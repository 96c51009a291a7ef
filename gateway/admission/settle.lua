-- Replace a reservation by what the request used. KEYS as for reserve.lua.
-- ARGV: now_ms, request_id, window_ms, scope count, has_credit, token delta (used - reserved),
--       reserved cost, used cost, failed (1: give the request back too), then per scope
--       4 values (rpm, tpm, max_concurrency, budget_micros; 0 means unlimited).
-- ARGV arrives as one space-separated string: one argument to encode, not twenty (the client's
-- per-argument encoding was a measurable share of admission's cost).
local argv = {}
for value in string.gmatch(ARGV[1], '%S+') do argv[#argv + 1] = value end
local window, nscopes, has_credit = tonumber(argv[3]), tonumber(argv[4]), tonumber(argv[5])
local token_delta, reserved, used, failed = tonumber(argv[6]), tonumber(argv[7]), tonumber(argv[8]), tonumber(argv[9])

local function shift(key, amount)
  local tat = redis.call('GET', key)
  if tat and amount ~= 0 then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 and ttl + amount > 0 then
      redis.call('SET', key, tonumber(tat) + amount, 'PX', math.ceil(ttl + amount))
    else
      redis.call('DEL', key)
    end
  end
end

for i = 0, nscopes - 1 do
  local k, a = i * 4, 10 + i * 4
  local rpm, tpm = tonumber(argv[a]), tonumber(argv[a + 1])
  if rpm > 0 and failed == 1 then shift(KEYS[k + 1], -window / rpm) end
  if tpm > 0 then shift(KEYS[k + 2], token_delta * window / tpm) end
  if tonumber(argv[a + 2]) > 0 then
    redis.call('ZREM', KEYS[k + 3], argv[2])
    -- Leases of requests that never settled (their gateway died) expire; reserve.lua only counts live ones.
    local clock = redis.call('TIME')
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000))
  end
  if tonumber(argv[a + 3]) > 0 and redis.call('EXISTS', KEYS[k + 4]) == 1 then
    redis.call('INCRBY', KEYS[k + 4], used - reserved)
  end
end
local credit_key = KEYS[nscopes * 4 + 1]
if has_credit == 1 and redis.call('EXISTS', credit_key) == 1 then
  redis.call('HINCRBY', credit_key, 'reserved', -reserved)
  redis.call('HINCRBY', credit_key, 'balance', -used)
end
return 1
