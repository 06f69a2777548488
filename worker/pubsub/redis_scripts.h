// The Lua scripts the Redis broker runs on a channel's shard. Each is atomic, so its reads and
// writes of one channel's keys never interleave with another node's.
//
// Keys per channel (under the configured prefix): KEYS[1] a hash {epoch, top} (the channel's
// epoch and its last offset), KEYS[2] a stream whose entries "<offset>-0" hold {t: unix ms,
// d: data}. The pub/sub channel is passed as an argument (it is not a key).
#pragma once

namespace tether::redis_script {

// ARGV: pub/sub channel, data, history size (stream MAXLEN ~; 0: keep none), the stream's
// expiry and the hash's expiry in ms (both refreshed by every publish; the hash outlives the
// stream, so that a quiet channel keeps its epoch and its subscribers are told no false gap),
// and the publishing node's clock in unix ms. Returns "<epoch>:<offset>". A missing hash (new
// channel, or Redis lost it) starts a new epoch, drawn from the server's clock in microseconds
// modulo 2^32 (never 0), and drops a stream left from the old epoch, whose entry ids would be
// above the new offsets. The PUBLISH payload is "<epoch>:<offset>:<time_ms>:<data>".
// Every publish costs five calls and no number formatting: the time comes from the node (a
// TIME call and its formatting were 40% of the script's cost, measured with INFO commandstats).
inline constexpr const char* kPublish = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  local now = redis.call('TIME')
  epoch = string.format('%.0f', (tonumber(now[1]) * 1000000 + tonumber(now[2])) % 4294967296)
  if epoch == '0' then epoch = '1' end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'top', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'top', 1)
local ms = ARGV[6]
if ARGV[3] == '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '0', offset .. '-0', 't', ms, 'd', ARGV[2])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], offset .. '-0', 't', ms, 'd', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[1], epoch .. ':' .. offset .. ':' .. ms .. ':' .. ARGV[2])
return epoch .. ':' .. offset
)lua";

// ARGV: the epoch and offset after which to read (from another epoch: every entry is new to
// the reader), and the last offset to read (0: all). Returns {epoch, top, first, entries}: epoch '' when the channel has no hash,
// first the stream's oldest offset (0 when empty), entries as XRANGE gives them. One script, so
// that epoch, top and entries are one moment's.
inline constexpr const char* kHistory = R"lua(
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'top')
if not meta[1] then return {'', 0, 0, {}} end
local after = ARGV[2]
if meta[1] ~= ARGV[1] then after = '0' end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first = 0
if #oldest > 0 then first = tonumber(string.match(oldest[1][1], '^(%d+)')) end
local last = '+'
if ARGV[3] ~= '0' then last = ARGV[3] .. '-0' end
return {meta[1], tonumber(meta[2]), first, redis.call('XRANGE', KEYS[2], '(' .. after .. '-0', last)}
)lua";

// Returns {epoch, top, stream length}: epoch '' when the channel has no hash.
inline constexpr const char* kInfo = R"lua(
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'top')
if not meta[1] then return {'', 0, 0} end
return {meta[1], tonumber(meta[2]), redis.call('XLEN', KEYS[2])}
)lua";

}  // namespace tether::redis_script
