// The Lua scripts the Redis broker runs on a channel's shard. Each is atomic, so its reads and
// writes of one channel's keys never interleave with another node's.
//
// Keys per channel (under the configured prefix): KEYS[1] a hash {epoch, top} (the channel's
// epoch and its last offset), KEYS[2] a stream whose entries "<offset>-0" hold {t: unix ms,
// d: data}. The pub/sub channel is passed as an argument (it is not a key).
#pragma once

namespace tether::redis_script {

// Publishes a batch (the publishes one worker made in one loop turn, to channels of this shard):
// KEYS are each message's hash and stream, in pairs; ARGV the history size (stream MAXLEN ~; 0:
// keep none), the stream's expiry and the hash's expiry in ms (both refreshed by every publish;
// the hash outlives the stream, so that a quiet channel keeps its epoch and its subscribers are
// told no false gap), and the publishing node's clock in unix ms, then each message's pub/sub
// channel and data. Returns one answer per message, in order: "<epoch>:<offset>", or "!" and why
// it failed (each message is on its own: one whose keys hold something else fails alone).
// A missing hash (new channel, or Redis lost it) starts a new epoch, drawn from the server's
// clock in microseconds modulo 2^32 (never 0), and drops a stream left from the old epoch, whose
// entry ids would be above the new offsets. The PUBLISH payload is "<epoch>:<offset>:<time_ms>:<data>".
// A publish costs five calls and no number formatting (a TIME call per publish and its formatting
// were 40% of the script's time, measured with INFO commandstats), and a batch one EVALSHA.
inline constexpr const char* kPublish = R"lua(
local kept, ttl, meta_ttl, ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function publish(meta, stream, channel, data)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    local now = redis.call('TIME')
    epoch = string.format('%.0f', (tonumber(now[1]) * 1000000 + tonumber(now[2])) % 4294967296)
    if epoch == '0' then epoch = '1' end
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'epoch', epoch, 'top', 0)
  end
  local offset = redis.call('HINCRBY', meta, 'top', 1)
  if kept == '0' then
    redis.call('XADD', stream, 'MAXLEN', '0', offset .. '-0', 't', ms, 'd', data)
  else
    redis.call('XADD', stream, 'MAXLEN', '~', kept, offset .. '-0', 't', ms, 'd', data)
  end
  redis.call('PEXPIRE', meta, meta_ttl)
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PUBLISH', channel, epoch .. ':' .. offset .. ':' .. ms .. ':' .. data)
  return epoch .. ':' .. offset
end
local answers = {}
for i = 1, #KEYS / 2 do
  local ok, answer = pcall(publish, KEYS[2 * i - 1], KEYS[2 * i], ARGV[3 + 2 * i], ARGV[4 + 2 * i])
  if ok then
    answers[i] = answer
  else
    answers[i] = '!' .. (type(answer) == 'table' and tostring(answer.err) or tostring(answer))
  end
end
return answers
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
