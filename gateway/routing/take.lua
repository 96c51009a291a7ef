-- Take a lease on the first replica of a pool with room, across every gateway sharing this Redis.
-- KEYS: the pool's queue (waiter id -> deadline), then each candidate replica's leases (lease id ->
--       expiry), in the order the caller prefers them.
-- ARGV: max_outstanding, lease_ms, lease_id, waiter_id, queued (1: the waiter is already in the
--       queue), queue_size, max_wait_ms.
-- Returns {1, replica index (0-based), room left on it} granted; {0} queued (or still queued);
--         {-1} refused: the queue is full.
-- Redis's clock, not the callers': gateways' clocks differ.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local queued = ARGV[5] == '1'
local queue = KEYS[1]
-- Waiters of a gateway that died leave the queue at their deadline.
redis.call('ZREMRANGEBYSCORE', queue, '-inf', now)
local waiting = redis.call('ZCARD', queue)
-- A newcomer does not pass those already waiting (on this gateway or another).
if queued or waiting == 0 then
  for i = 2, #KEYS do
    -- Leases of a gateway that died expire (the living renew theirs).
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local held = redis.call('ZCARD', KEYS[i])
    if held < limit then
      redis.call('ZADD', KEYS[i], now + lease, ARGV[3])
      redis.call('PEXPIRE', KEYS[i], lease)
      if queued then redis.call('ZREM', queue, ARGV[4]) end
      return {1, i - 2, limit - held - 1}
    end
  end
end
if queued then return {0} end
if waiting >= tonumber(ARGV[6]) then return {-1} end
redis.call('ZADD', queue, now + tonumber(ARGV[7]), ARGV[4])
redis.call('PEXPIRE', queue, tonumber(ARGV[7]))
return {0}
