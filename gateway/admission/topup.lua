-- Apply ledger top-ups once each. KEYS[1]: the credit hash; KEYS[2]: the set of applied ids.
-- ARGV: pairs of (entry id, micros). Without a counter there is nothing to add to: the next seed
-- reads the ledger, top-ups included.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'balance', tonumber(ARGV[i + 1]))
  end
end
redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
return 1
