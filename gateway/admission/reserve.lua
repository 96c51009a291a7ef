-- Admit one request against every limit of every scope, atomically: check all, then apply all.
-- KEYS: per scope, 4 keys (requests rate, tokens rate, concurrency slots, budget); then the credit hash.
-- ARGV: now_ms (unused for rates: Redis's own clock orders them), request_id, lease_ms, window_ms, scope count, has_credit, tokens, cost_micros,
--       per scope 5 values (rpm, tpm, max_concurrency, budget_micros, warning_percent;
--       0 means unlimited), then credit grace_micros and credit ttl_ms.
-- Returns {code, reason, scope index, retry_ms, req limit, req remaining, req reset_ms,
--          tok limit, tok remaining, tok reset_ms, warning}; code 1 admitted, 0 refused, 2 seed needed.
-- Refused for credits, the 5th and 6th are the balance and what requests in flight hold of it.
-- Redis's clock, not the callers': replicas' clocks differ, and requests reach Redis out of order.
-- ARGV arrives as one space-separated string: one argument to encode, not twenty (the client's
-- per-argument encoding was a measurable share of admission's cost).
local argv = {}
for value in string.gmatch(ARGV[1], '%S+') do argv[#argv + 1] = value end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local request_id, lease, window = argv[2], tonumber(argv[3]), tonumber(argv[4])
local nscopes, has_credit = tonumber(argv[5]), tonumber(argv[6])
local tokens, cost = tonumber(argv[7]), tonumber(argv[8])
local views = {0, 0, 0, 0, 0, 0}
local rates, warn = {}, 0

-- Each redis.call costs a few microseconds on the request's path: one MGET reads a scope's two rate
-- buckets and its budget, one ZCOUNT its live concurrency leases (expired ones are removed by settle.lua).
for i = 0, nscopes - 1 do
  local k, a = i * 4, 9 + i * 5
  local limits = {tonumber(argv[a]), tonumber(argv[a + 1])}
  local costs = {1, tokens}
  local stored = redis.call('MGET', KEYS[k + 1], KEYS[k + 2], KEYS[k + 4])
  for unit = 1, 2 do
    local limit = limits[unit]
    if limit > 0 then
      if costs[unit] > limit then return {0, 'too_large', i, 0, 0, 0, 0, 0, 0, 0, 0} end
      local interval = window / limit
      local tat = tonumber(stored[unit] or now)
      if tat < now then tat = now end
      local ahead = tat + costs[unit] * interval - now
      if ahead > window then
        local name = unit == 1 and 'requests' or 'tokens'
        return {0, name, i, math.ceil(ahead - window), 0, 0, 0, 0, 0, 0, 0}
      end
      table.insert(rates, {KEYS[k + unit], now + ahead, math.ceil(ahead)})
      if views[unit * 3 - 2] == 0 then
        views[unit * 3 - 2] = limit
        views[unit * 3 - 1] = math.floor((window - ahead) / interval)
        views[unit * 3] = math.ceil(ahead)
      end
    end
  end
  local max_concurrency = tonumber(argv[a + 2])
  if max_concurrency > 0 then
    if redis.call('ZCOUNT', KEYS[k + 3], '(' .. now, '+inf') >= max_concurrency then
      return {0, 'concurrency', i, 1000, 0, 0, 0, 0, 0, 0, 0}
    end
  end
  local budget = tonumber(argv[a + 3])
  if budget > 0 then
    local spent = stored[3]
    if not spent then return {2, 'budget', i, 0, 0, 0, 0, 0, 0, 0, 0} end
    spent = tonumber(spent)
    if spent + cost > budget then return {0, 'budget', i, 0, 0, 0, 0, 0, 0, 0, 0} end
    if (spent + cost) * 100 >= budget * tonumber(argv[a + 4]) then warn = 1 end
  end
end

local credit_key = KEYS[nscopes * 4 + 1]
local grace_at = 9 + nscopes * 5
if has_credit == 1 then
  if redis.call('EXISTS', credit_key) == 0 then return {2, 'credits', -1, 0, 0, 0, 0, 0, 0, 0, 0} end
  local balance = tonumber(redis.call('HGET', credit_key, 'balance'))
  local reserved = tonumber(redis.call('HGET', credit_key, 'reserved') or 0)
  if balance - reserved - cost < -tonumber(argv[grace_at]) then
    return {0, 'credits', -1, 0, balance, reserved, 0, 0, 0, 0, 0}
  end
end

for _, rate in ipairs(rates) do
  redis.call('SET', rate[1], rate[2], 'PX', rate[3] + 1)
end
for i = 0, nscopes - 1 do
  local k, a = i * 4, 9 + i * 5
  if tonumber(argv[a + 2]) > 0 then
    redis.call('ZADD', KEYS[k + 3], now + lease, request_id)
    redis.call('PEXPIRE', KEYS[k + 3], lease)
  end
  if tonumber(argv[a + 3]) > 0 then
    redis.call('INCRBY', KEYS[k + 4], cost)  -- keeps the expiry the seed gave the key
  end
end
if has_credit == 1 then
  redis.call('HINCRBY', credit_key, 'reserved', cost)
  redis.call('PEXPIRE', credit_key, tonumber(argv[grace_at + 1]))
end
return {1, '', -1, 0, views[1], views[2], views[3], views[4], views[5], views[6], warn}
