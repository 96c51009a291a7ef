-- Give a lease back (or leave the queue) and, when someone waits, tell the gateways.
-- KEYS: the pool's queue, then the replica lease sets the id may be in.
-- ARGV: lease id (or waiter id), channel ('': tell nobody), message.
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
