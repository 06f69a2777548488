// tether.js: a browser (and Node >= 22) client for tether's pub/sub routes. One dependency-free
// ES module, no build step. It subscribes over WebSocket, falls back to EventSource (SSE) where
// WebSockets do not open, reconnects with capped exponential back-off and full jitter, resumes
// from the last id it saw, never delivers an id twice, and surfaces tether's notices as events.
// The decisions (back-off, close codes, resume id, duplicates) are the pure functions exported
// below, so that they are tested without a browser (js/test/); TetherClient only wires them to
// the sockets. See man/tether.js.7.

// ---- pure decision logic

export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 500, maxMs: 30000, resetAfterMs: 10000 });

// The delay before reconnect attempt `attempt` (0 for the first after a loss): "full jitter",
// uniform in [0, min(maxMs, initialMs * 2^attempt)], so that the clients a server lost together do
// not come back together. `random` returns [0, 1) like Math.random.
export function backoffDelay(attempt, { initialMs, maxMs } = DEFAULT_BACKOFF, random = Math.random) {
  const exponent = Math.min(Math.max(0, attempt | 0), 30); // 2^30 * initialMs is past any cap
  const cap = Math.min(maxMs, initialMs * 2 ** exponent);
  return Math.floor(random() * (cap + 1));
}

// The attempt number after a connection closed: a connection that lived resetAfterMs or more was a
// good one, and its loss starts the back-off again from the bottom.
export function nextAttempt(attempt, livedMs, { resetAfterMs } = DEFAULT_BACKOFF) {
  return livedMs != null && livedMs >= resetAfterMs ? 0 : attempt + 1;
}

// What to do when a WebSocket closed, from its close code (and whether it had opened):
//   "now"     reconnect at once with resume (1001: the server drains for a reload or
//             max_connection_age, or a ping timeout);
//   "backoff" reconnect after the back-off delay (1008 slow consumer, 1006 lost, 1011, ...);
//   "expired" the token expired (4001): reconnect only with a new token;
//   "stop"    the client asked for it (1000 from our side) or a refusal that retrying cannot fix
//             (1002 protocol error, 1003, 1007, 1009: the same request would be closed again).
export function closeDecision(code, opened = true) {
  if (!opened) return "backoff"; // browsers hide the handshake's status: a refusal looks like a loss
  switch (code) {
    case 1001: return "now";
    case 4001: return "expired";
    case 1002: case 1003: case 1007: case 1009: case 1010: return "stop";
    default: return "backoff";
  }
}

// tether's ids: "EPOCH-SEQUENCE" (the memory broker: one sequence over all channels; the Redis
// broker: a per-channel epoch and offset). Returns null for anything else.
export function parseId(id) {
  const m = /^([0-9a-fA-F]{1,16})-([0-9]{1,20})$/.exec(typeof id === "string" ? id : "");
  return m ? { epoch: m[1].toLowerCase(), sequence: BigInt(m[2]) } : null;
}

// -1, 0 or 1 when a and b are of one epoch; null when they cannot be ordered.
export function compareIds(a, b) {
  const x = parseId(a), y = parseId(b);
  if (!x || !y || x.epoch !== y.epoch) return null;
  return x.sequence < y.sequence ? -1 : x.sequence > y.sequence ? 1 : 0;
}

// Resume bookkeeping and duplicate suppression. tether takes ONE since (?since= / lastEventId)
// for all the channels of a request and replays each channel's history after it; with the memory
// broker ids grow over all channels, so the right since is the newest id seen on any of them (the
// stream delivers in id order). `lastIds` maps each channel to the newest id delivered on it.
export function createResumeState(since = null, channels = []) {
  const lastIds = new Map();
  if (since != null) for (const c of channels) lastIds.set(c, String(since));
  return { lastIds, since: since == null ? null : String(since) };
}

// Whether a message is new (to be delivered) and the state after it. A message is a duplicate
// when its channel already delivered this id or a later one of the same epoch (a replay after a
// resume); an id of another epoch (a restarted server, a Redis that lost the channel) is new.
// `channel` is null when the transport does not say (SSE with several channels): then the ids of
// the whole stream are one sequence, under the key "*".
export function acceptMessage(state, channel, id) {
  if (id == null || id === "") return true; // an id-less message cannot be deduplicated or resumed
  const key = channel ?? "*";
  const last = state.lastIds.get(key) ?? (channel == null ? state.since : null);
  if (last != null) {
    const order = compareIds(id, last);
    if (order === 0 || order === -1) return false;
    if (order === null && id === last) return false;
  }
  state.lastIds.set(key, id);
  if (state.since == null || compareIds(id, state.since) !== -1) state.since = id;
  return true;
}

// The URL of one connection attempt. `base` is the server's origin or a URL (http(s) or ws(s));
// paths default to tether's default routes /ws/ and /sse/.
export function connectionUrl(base, transport, channels, since, token, paths = {}) {
  if (!channels.length) throw new TypeError("tether.js: at least one channel is needed");
  const url = new URL(base, typeof location !== "undefined" ? location.href : undefined);
  const ws = transport === "websocket";
  const prefix = ws ? (paths.websocket ?? "/ws/") : (paths.sse ?? "/sse/");
  url.pathname = prefix + encodeURIComponent(channels[0]);
  const query = new URLSearchParams();
  for (const c of channels.slice(1)) query.append("channel", c);
  if (since != null) query.set(ws ? "since" : "lastEventId", since);
  if (token != null) query.set("token", token);
  url.search = query.toString();
  if (ws) url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  else url.protocol = url.protocol === "wss:" || url.protocol === "https:" ? "https:" : "http:";
  return url.toString();
}

// The transport of the next attempt: "auto" tries WebSocket first and falls back to SSE after a
// WebSocket that failed to open; once one transport has opened it is kept.
export function nextTransport(mode, current, { opened, everOpened }) {
  if (mode !== "auto") return mode;
  if (everOpened || opened) return current;
  return current === "websocket" ? "sse" : "websocket";
}

// ---- the client

export class TetherClient {
  constructor(url, options = {}) {
    this.url = url;
    this.channels = [...(options.channels ?? [])];
    if (!this.channels.length) throw new TypeError("tether.js: options.channels must name at least one channel");
    this.mode = options.transport ?? "auto";
    if (!["auto", "websocket", "sse"].includes(this.mode)) throw new TypeError(`tether.js: unknown transport ${this.mode}`);
    this.token = options.token ?? null;
    this.paths = options.paths ?? {};
    this.backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.resume = createResumeState(options.since ?? null, this.channels);
    this.transport = this.mode === "sse" ? "sse" : "websocket";
    this.listeners = new Map();
    this.attempt = 0;
    this.everOpened = false;
    this.closed = false;
    this.waitingForToken = false;
    this.socket = null;
    this.timer = null;
    this.random = options.random ?? Math.random;
    if (options.autoConnect !== false) queueMicrotask(() => this.connect());
  }

  on(event, listener) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(listener);
    return this;
  }

  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  emit(event, value) {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try { listener(value); } catch (error) { queueMicrotask(() => { throw error; }); }
    }
  }

  // The id the next connection resumes from (null before any message).
  get lastId() { return this.resume.since; }

  // A new token: sent over an open WebSocket as tether's refresh message (the connection lives
  // on) and used by every later connection (an SSE stream takes it at its next reconnect).
  setToken(token) {
    this.token = token;
    if (this.waitingForToken && !this.closed) {
      this.waitingForToken = false;
      this.attempt = 0;
      this.connect();
      return;
    }
    if (this.socket && this.transport === "websocket" && this.socket.readyState === 1)
      this.socket.send(JSON.stringify({ type: "refresh", token }));
  }

  // Sends text on the open WebSocket, for routes with client_messages = "publish" (a chat room:
  // the server publishes it to the first channel, the sender gets it back like everyone else) or
  // "echo". False when there is nothing to send it on: not connected, or over SSE, which is one
  // way only (publish() is the way there).
  send(text) {
    if (!this.socket || this.transport !== "websocket" || this.socket.readyState !== 1) return false;
    this.socket.send(String(text));
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.drop();
    this.emit("close", { code: 1000, reason: "closed by the client", reconnect: false });
  }

  connect() {
    if (this.closed || this.socket) return;
    const url = connectionUrl(this.url, this.transport, this.channels, this.resume.since, this.token, this.paths);
    const attempt = { opened: false, openedAt: 0, tokenUsed: this.token };
    if (this.transport === "websocket") this.openWebSocket(url, attempt);
    else this.openEventSource(url, attempt);
  }

  drop() {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
    try { socket.close(); } catch { /* already gone */ }
  }

  opened(attempt) {
    attempt.opened = true;
    attempt.openedAt = Date.now();
    this.everOpened = true;
    this.emit("open", { transport: this.transport, since: this.resume.since });
  }

  // One frame or event: a message or a notice.
  deliver(channel, id, data) {
    if (!acceptMessage(this.resume, channel, id)) return;
    this.emit("message", { channel, id, data });
  }

  openWebSocket(url, attempt) {
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      this.emit("error", { error, fatal: false, transport: "websocket" });
      this.lost(attempt, "backoff", 1006, String(error?.message ?? error));
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.opened(attempt);
    socket.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch {
        this.emit("error", { error: new Error("a frame that is not JSON (is the route's format \"json\"?)"), fatal: false });
        return;
      }
      if (frame.event === "gap") this.emit("gap", { channel: frame.channel, since: frame.since });
      else if (frame.event === "dropped") this.emit("dropped", { count: frame.count });
      else if (frame.event === "refreshed" || frame.event === "refresh_failed") this.emit(frame.event, {});
      else if (typeof frame.channel === "string") this.deliver(frame.channel, frame.id, frame.data);
    };
    socket.onerror = () => {}; // onclose follows with the code
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.lost(attempt, closeDecision(event.code, attempt.opened), event.code, event.reason);
    };
  }

  openEventSource(url, attempt) {
    let source;
    try {
      source = new EventSource(url);
    } catch (error) {
      this.emit("error", { error, fatal: false, transport: "sse" });
      this.lost(attempt, "backoff", 1006, String(error?.message ?? error));
      return;
    }
    this.socket = source;
    const single = this.channels.length === 1 ? this.channels[0] : null;
    source.onopen = () => this.opened(attempt);
    source.onmessage = (event) => this.deliver(single, event.lastEventId || null, event.data);
    source.addEventListener("gap", (event) => {
      const notice = safeJson(event.data);
      this.emit("gap", { channel: notice.channel, since: notice.since });
    });
    source.addEventListener("dropped", (event) => this.emit("dropped", { count: safeJson(event.data).count }));
    source.addEventListener("expired", () => {
      this.drop();
      this.lost(attempt, "expired", 4001, "token expired");
    });
    // The stream ended or failed. EventSource would reconnect by itself, but with its own delay and
    // without a new token; this client reconnects on its own terms instead. A stream that ends on
    // a drain or max_connection_age (it had opened, and lived) comes back at once, like a 1001.
    source.onerror = () => {
      if (this.socket !== source) return;
      this.drop();
      this.lost(attempt, attempt.opened ? "now" : "backoff", attempt.opened ? 1001 : 1006, "stream ended");
    };
  }

  // A connection is gone: reconnect now, later or never.
  lost(attempt, decision, code, reason) {
    if (this.closed) return;
    const lived = attempt.opened ? Date.now() - attempt.openedAt : null;
    if (decision === "expired") {
      this.emit("expired", { code, reason });
      // A listener may have called setToken(): then go on with the new one.
      if (this.token != null && this.token !== attempt.tokenUsed) decision = "now";
      else {
        // Stopped until setToken() brings a new one (getting it is often asynchronous).
        this.waitingForToken = true;
        this.emit("error", { error: new Error("token expired: call setToken() to go on"), fatal: true, code });
        this.emit("close", { code, reason, reconnect: false });
        return;
      }
    }
    if (decision === "stop") {
      this.closed = true;
      this.emit("error", { error: new Error(`closed by the server: ${code} ${reason}`), fatal: true, code });
      this.emit("close", { code, reason, reconnect: false });
      return;
    }
    const previous = this.transport;
    this.transport = nextTransport(this.mode, this.transport, { opened: attempt.opened, everOpened: this.everOpened });
    let delay = 0;
    if (decision === "now" && attempt.opened) {
      this.attempt = 0;
    } else {
      // A connection that never opened is retried at once on the other transport (fallback),
      // and with back-off otherwise.
      delay = this.transport !== previous && !this.everOpened && previous === "websocket" ? 0 : backoffDelay(this.attempt, this.backoff, this.random);
      this.attempt = nextAttempt(this.attempt, lived, this.backoff);
    }
    this.emit("close", { code, reason, reconnect: true, delayMs: delay, transport: previous });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

function safeJson(text) {
  try { return JSON.parse(text) ?? {}; } catch { return {}; }
}

// Publishes `data` (a string) on `channel` through tether's publish API (POST /pub/{channel});
// resolves to the id the server gave it. `token`: [pubsub] publish_token, if set.
export async function publish(base, channel, data, { token, path = "/pub/" } = {}) {
  const url = new URL(base, typeof location !== "undefined" ? location.href : undefined);
  url.protocol = url.protocol === "wss:" ? "https:" : url.protocol === "ws:" ? "http:" : url.protocol;
  url.pathname = path + encodeURIComponent(channel);
  url.search = "";
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: "POST", headers, body: data });
  const text = await response.text();
  if (!response.ok) throw new Error(`publish on ${channel}: ${response.status} ${text}`);
  return safeJson(text).id ?? text.trim();
}

export default TetherClient;
