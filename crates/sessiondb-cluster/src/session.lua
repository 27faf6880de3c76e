-- One sessiondb command on one session (KEYS = meta hash, data hash) or on the top-level keys
-- (KEYS = data hash only), atomically. ARGV[1] = now in ms (the sessiondb node's clock),
-- ARGV[2] = the operation, then its arguments.
--
-- Every reply is a table whose first element is 1, or {0} when the session is not live.
-- Deadlines are checked here, before anything is read: a session past its deadline is never
-- visible; without deleteSession it is wiped and re-armed to now + duration. Redis's own key
-- expiry only reclaims memory, GRACE_MS after the deadline, so a clock difference between
-- sessiondb nodes and Redis never removes data that is still live.

local GRACE_MS = 60000
local now = tonumber(ARGV[1])
local op = ARGV[2]
local meta = nil
local data = KEYS[1]
if #KEYS == 2 then
    meta = KEYS[1]
    data = KEYS[2]
end

-- Lets Redis reclaim the session's keys once it is surely past `deadline`.
local function reclaim_after(deadline, delete_session)
    redis.call('PEXPIREAT', data, deadline + GRACE_MS)
    if delete_session then
        redis.call('PEXPIREAT', meta, deadline + GRACE_MS)
    end
end

local function arm(s)
    s.deadline = now + s.duration * 1000
    redis.call('HSET', meta, 'deadline', s.deadline)
    reclaim_after(s.deadline, s.delete)
end

-- The live session (after a due expiry applied), or nil.
local function live()
    local m = redis.call('HMGET', meta, 'duration', 'deadline', 'delete', 'extget', 'extset',
        'shared', 'name')
    if not m[1] then
        return nil
    end
    local s = {
        duration = tonumber(m[1]),
        deadline = tonumber(m[2]),
        delete = m[3] == '1',
        extend_on_get = m[4] == '1',
        extend_on_set = m[5] == '1',
        shared = m[6] == '1',
        name = m[7],
    }
    if s.duration > 0 and now >= s.deadline then
        if s.delete then
            redis.call('DEL', meta, data)
            return nil
        end
        redis.call('DEL', data)
        arm(s)
    end
    return s
end

-- After a write created the data hash, give it the session's reclaim time.
local function written(s)
    if s and s.duration > 0 then
        reclaim_after(s.deadline, s.delete)
    end
end

local function set_pairs(from)
    for i = from, #ARGV, 2 do
        redis.call('HSET', data, ARGV[i], ARGV[i + 1])
    end
end

if op == 'new' then
    -- ARGV: shared, name, duration, delete, extget, extset, whether there is a name
    local shared = ARGV[3] == '1'
    if shared then
        if live() then
            return {0}
        end
    elseif redis.call('EXISTS', meta) == 1 then
        return {0}
    end
    redis.call('DEL', meta, data)
    local duration = tonumber(ARGV[5])
    redis.call('HSET', meta, 'duration', duration, 'deadline', 0, 'delete', ARGV[6],
        'extget', ARGV[7], 'extset', ARGV[8], 'shared', ARGV[3])
    if ARGV[9] == '1' then
        redis.call('HSET', meta, 'name', ARGV[4])
    end
    if duration > 0 then
        arm({ duration = duration, delete = ARGV[6] == '1' })
    end
    return {1}
end

local s = nil
if meta then
    s = live()
    if not s then
        return {0}
    end
end

if op == 'exists' then
    return {1}
elseif op == 'open' then
    return {1, s.shared and 1 or 0}
elseif op == 'end' then
    redis.call('DEL', meta, data)
    return {1}
elseif op == 'info' then
    local remaining = 0
    if s.duration > 0 then
        remaining = math.min(math.floor(math.max(s.deadline - now, 0) / 1000), s.duration)
    end
    return {1, s.shared and 1 or 0, redis.call('HLEN', data), s.name or false, s.duration,
        s.delete and 1 or 0, s.extend_on_get and 1 or 0, s.extend_on_set and 1 or 0, remaining}
elseif op == 'set' or op == 'add' then
    if s and s.extend_on_set and s.duration > 0 then
        arm(s)
    end
    for i = 3, #ARGV, 2 do
        redis.call(op == 'set' and 'HSET' or 'HSETNX', data, ARGV[i], ARGV[i + 1])
    end
    written(s)
    return {1}
elseif op == 'get' then
    if s and s.extend_on_get and s.duration > 0 then
        arm(s)
    end
    if #ARGV < 3 then
        return {1, {}}
    end
    return {1, redis.call('HMGET', data, unpack(ARGV, 3))}
elseif op == 'rmv' then
    redis.call('HDEL', data, unpack(ARGV, 3))
    return {1}
elseif op == 'contains' then
    local found = {}
    for i = 3, #ARGV do
        found[#found + 1] = redis.call('HEXISTS', data, ARGV[i])
    end
    return {1, found}
elseif op == 'count' then
    return {1, redis.call('HLEN', data)}
elseif op == 'keys' then
    return {1, redis.call('HKEYS', data)}
elseif op == 'clear' or op == 'clearset' then
    local n = redis.call('HLEN', data)
    redis.call('DEL', data)
    set_pairs(3)
    written(s)
    return {1, n}
end
return redis.error_reply('sessiondb: unknown operation ' .. tostring(op))
