-- Seed a customer's credit counter from the ledger, unless it is already held.
-- KEYS[1]: the credit hash; KEYS[2]: the set of ledger top-up ids already in the balance.
-- ARGV: balance_micros, ttl_ms, then the ids of the recent top-ups that the balance includes.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'reserved', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
