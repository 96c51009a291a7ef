-- Let a background (batch) line onto a pool while the pool stays busy below a limit, across every
-- gateway sharing this Redis: the check and the count are one step, so two gateways never both pass
-- on the same count. The line counts in the pool's gate until it leaves (release.lua) or, its gateway
-- dead, its expiry passes (the living renew theirs with renew.lua).
-- KEYS: the pool's gate (line token -> expiry), then each replica's leases (lease id -> expiry).
-- ARGV: limit, lease_ms, token.
-- Busy is the larger of the live leases (interactive requests and lines already sent) and the lines
-- admitted and not yet ended (some not yet holding a lease). Returns 1 admitted, 0 not.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local gate, limit, lease = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', gate, '-inf', now)
local busy = redis.call('ZCARD', gate)
local held = 0
for i = 2, #KEYS do held = held + redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
if held > busy then busy = held end
if busy > 0 and busy >= limit then return 0 end
redis.call('ZADD', gate, now + lease, ARGV[3])
redis.call('PEXPIRE', gate, lease)
return 1
