// Unit tests of tether.js's decisions: back-off, close codes, resume bookkeeping, duplicates.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelay, nextAttempt, closeDecision, compareIds, parseId, createResumeState, acceptMessage,
  connectionUrl, nextTransport, DEFAULT_BACKOFF,
} from "../tether.js";

const backoff = { initialMs: 100, maxMs: 5000, resetAfterMs: 10000 };

test("back-off: bounded by min(maxMs, initialMs * 2^attempt), both ends reachable", () => {
  for (let attempt = 0; attempt < 40; ++attempt) {
    const cap = Math.min(5000, 100 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, backoff, () => 0), 0);
    assert.equal(backoffDelay(attempt, backoff, () => 0.999999999), cap);
    for (let i = 0; i < 50; ++i) {
      const d = backoffDelay(attempt, backoff);
      assert.ok(Number.isInteger(d) && d >= 0 && d <= cap, `attempt ${attempt}: ${d} outside [0, ${cap}]`);
    }
  }
  assert.equal(backoffDelay(-3, backoff, () => 0.999999999), 100);
  assert.equal(backoffDelay(1e9, backoff, () => 0.999999999), 5000);
});

test("back-off: full jitter spreads uniformly over [0, cap]", () => {
  // A deterministic generator (LCG), so that the test cannot fail by chance.
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const cap = 5000, n = 20000, buckets = new Array(10).fill(0);
  let sum = 0;
  for (let i = 0; i < n; ++i) {
    const d = backoffDelay(10, backoff, random);
    sum += d;
    buckets[Math.min(9, Math.floor(d / (cap / 10)))]++;
  }
  const mean = sum / n;
  assert.ok(Math.abs(mean - cap / 2) < cap * 0.02, `mean ${mean}`);
  for (const b of buckets) assert.ok(Math.abs(b - n / 10) < n / 10 * 0.1, `buckets ${buckets}`);
});

test("back-off: grows per failed attempt, resets after a connection that lived resetAfterMs", () => {
  assert.equal(nextAttempt(0, null, backoff), 1);
  assert.equal(nextAttempt(4, null, backoff), 5);
  assert.equal(nextAttempt(4, 9999, backoff), 5);
  assert.equal(nextAttempt(4, 10000, backoff), 0);
  assert.equal(nextAttempt(7, 60000), 0);
  assert.ok(DEFAULT_BACKOFF.initialMs > 0 && DEFAULT_BACKOFF.maxMs >= DEFAULT_BACKOFF.initialMs);
});

test("close codes: 1001 now, 1008 and losses with back-off, 4001 expired, protocol refusals stop", () => {
  assert.equal(closeDecision(1001), "now");
  assert.equal(closeDecision(1008), "backoff");
  assert.equal(closeDecision(1006), "backoff");
  assert.equal(closeDecision(1011), "backoff");
  assert.equal(closeDecision(1000), "backoff");
  assert.equal(closeDecision(4001), "expired");
  for (const code of [1002, 1003, 1007, 1009]) assert.equal(closeDecision(code), "stop");
  // Before open, the browser shows every refusal as 1006: retried with back-off.
  assert.equal(closeDecision(1006, false), "backoff");
  assert.equal(closeDecision(1001, false), "backoff");
});

test("ids: parsed and ordered within an epoch, unordered across epochs", () => {
  assert.deepEqual(parseId("0a1b2c3d-42"), { epoch: "0a1b2c3d", sequence: 42n });
  assert.equal(parseId("nope"), null);
  assert.equal(parseId(undefined), null);
  assert.equal(compareIds("0a1b2c3d-9", "0a1b2c3d-10"), -1); // numeric, not text order
  assert.equal(compareIds("0a1b2c3d-10", "0a1b2c3d-10"), 0);
  assert.equal(compareIds("0a1b2c3d-11", "0a1b2c3d-10"), 1);
  assert.equal(compareIds("0a1b2c3d-11", "ffffffff-10"), null);
  assert.equal(compareIds("0a1b2c3d-18446744073709551615", "0a1b2c3d-18446744073709551614"), 1);
});

test("resume: the since is the newest id seen over all channels", () => {
  const s = createResumeState(null, ["a", "b"]);
  assert.equal(s.since, null);
  assert.ok(acceptMessage(s, "a", "e-1"));
  assert.ok(acceptMessage(s, "b", "e-2"));
  assert.ok(acceptMessage(s, "a", "e-5"));
  assert.equal(s.since, "e-5");
  assert.ok(acceptMessage(s, "b", "e-3")); // b's next: newer on b, older than the since
  assert.equal(s.since, "e-5");
  const started = createResumeState("e-7", ["a"]);
  assert.equal(started.since, "e-7");
  assert.equal(acceptMessage(started, "a", "e-7"), false);
  assert.ok(acceptMessage(started, "a", "e-8"));
});

test("dedup: never the same id twice on a channel, across a resume's replay", () => {
  const s = createResumeState(null, ["a", "b"]);
  const delivered = [];
  const feed = (ch, id) => { if (acceptMessage(s, ch, id)) delivered.push(`${ch}:${id}`); };
  ["e-1", "e-2", "e-3"].forEach((id) => feed("a", id));
  feed("b", "e-4");
  // The reconnection resumes from e-4; a server replaying a little too much must not show twice.
  ["e-2", "e-3", "e-5"].forEach((id) => feed("a", id));
  feed("b", "e-4");
  feed("b", "e-6");
  assert.deepEqual(delivered, ["a:e-1", "a:e-2", "a:e-3", "b:e-4", "a:e-5", "b:e-6"]);
  // A new epoch (the server restarted): its ids are new, even small ones.
  assert.ok(acceptMessage(s, "a", "f-1"));
  assert.equal(acceptMessage(s, "a", "f-1"), false);
  // A message without an id is delivered (nothing to compare).
  assert.ok(acceptMessage(s, "a", null));
});

test("dedup: a stream that does not name channels (SSE, several channels) is one sequence", () => {
  const s = createResumeState("e-3", ["a", "b"]);
  assert.equal(acceptMessage(s, null, "e-3"), false);
  assert.ok(acceptMessage(s, null, "e-4"));
  assert.equal(acceptMessage(s, null, "e-4"), false);
  assert.equal(s.since, "e-4");
});

test("URLs: channels, resume and token in each transport's spelling", () => {
  assert.equal(connectionUrl("http://h:8080", "websocket", ["a b", "c"], "e-1", "t/k"),
               "ws://h:8080/ws/a%20b?channel=c&since=e-1&token=t%2Fk");
  assert.equal(connectionUrl("https://h", "websocket", ["a"], null, null), "wss://h/ws/a");
  assert.equal(connectionUrl("wss://h", "sse", ["a", "b"], "e-2", null), "https://h/sse/a?channel=b&lastEventId=e-2");
  assert.equal(connectionUrl("http://h", "sse", ["a"], null, null, { sse: "/events/" }), "http://h/events/a");
  assert.throws(() => connectionUrl("http://h", "sse", [], null, null));
});

test("transport: auto falls back to SSE after a WebSocket that did not open, then keeps what opened", () => {
  assert.equal(nextTransport("auto", "websocket", { opened: false, everOpened: false }), "sse");
  assert.equal(nextTransport("auto", "sse", { opened: false, everOpened: false }), "websocket");
  assert.equal(nextTransport("auto", "sse", { opened: true, everOpened: true }), "sse");
  assert.equal(nextTransport("auto", "websocket", { opened: false, everOpened: true }), "websocket");
  assert.equal(nextTransport("websocket", "websocket", { opened: false, everOpened: false }), "websocket");
  assert.equal(nextTransport("sse", "sse", { opened: false, everOpened: false }), "sse");
});
