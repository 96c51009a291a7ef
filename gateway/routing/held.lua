-- Count the live leases of a pool's replicas, across every gateway sharing this Redis (read only).
-- KEYS: each replica's leases (lease id -> expiry). Returns the sum of leases not yet expired.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = 0
for i = 1, #KEYS do held = held + redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf') end
return held
