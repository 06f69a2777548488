// TetherClient's wiring, on stand-ins for WebSocket and EventSource that record the URLs opened:
// reconnects after 1001 with the resume id, stops on 4001 until setToken(), falls back to SSE.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { TetherClient } from "../tether.js";

let sockets = [];
class FakeSocket {
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; sockets.push(this); }
  open() { this.readyState = 1; this.onopen?.(); }
  frame(object) { this.onmessage?.({ data: JSON.stringify(object) }); }
  serverClose(code) { this.readyState = 3; this.onclose?.({ code, reason: "" }); }
  send(text) { this.sent.push(text); }
  close() { this.readyState = 3; }
  addEventListener(name, listener) { (this.listeners ??= {})[name] = listener; }
}
const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(() => {
  sockets = [];
  globalThis.WebSocket = FakeSocket;
  globalThis.EventSource = FakeSocket;
});

test("a 1001 reconnects at once, resuming from the last id, and a replayed id is not delivered again", async () => {
  const client = new TetherClient("http://h", { channels: ["a"], backoff: { initialMs: 10000, maxMs: 10000 } });
  const got = [];
  client.on("message", (m) => got.push(m.id));
  await tick();
  sockets[0].open();
  sockets[0].frame({ channel: "a", id: "e-1", data: "x" });
  sockets[0].frame({ channel: "a", id: "e-2", data: "y" });
  sockets[0].serverClose(1001);
  await tick();
  assert.equal(sockets.length, 2);
  assert.equal(sockets[1].url, "ws://h/ws/a?since=e-2");
  sockets[1].open();
  sockets[1].frame({ channel: "a", id: "e-2", data: "y" });
  sockets[1].frame({ channel: "a", id: "e-3", data: "z" });
  assert.deepEqual(got, ["e-1", "e-2", "e-3"]);
  client.close();
});

test("gap and dropped notices are events", async () => {
  const client = new TetherClient("http://h", { channels: ["a"] });
  const events = [];
  client.on("gap", (g) => events.push(["gap", g.channel, g.since]));
  client.on("dropped", (d) => events.push(["dropped", d.count]));
  await tick();
  sockets[0].open();
  sockets[0].frame({ event: "gap", channel: "a", since: "e-1" });
  sockets[0].frame({ event: "dropped", count: 3 });
  assert.deepEqual(events, [["gap", "a", "e-1"], ["dropped", 3]]);
  client.close();
});

test("4001 stops with a fatal error until setToken(), which reconnects with the new token", async () => {
  const client = new TetherClient("http://h", { channels: ["a"], token: "old" });
  const errors = [];
  client.on("error", (e) => errors.push(e.fatal));
  await tick();
  sockets[0].open();
  sockets[0].serverClose(4001);
  await tick(20);
  assert.equal(sockets.length, 1);
  assert.deepEqual(errors, [true]);
  client.setToken("new");
  assert.equal(sockets.length, 2);
  assert.equal(sockets[1].url, "ws://h/ws/a?token=new");
  sockets[1].open();
  client.setToken("newer"); // over an open WebSocket: the refresh message
  assert.deepEqual(sockets[1].sent, [JSON.stringify({ type: "refresh", token: "newer" })]);
  client.close();
});

test("a WebSocket that never opens is followed by EventSource, which is kept once open", async () => {
  const client = new TetherClient("http://h", { channels: ["a", "b"], since: "e-5", backoff: { initialMs: 1, maxMs: 1 } });
  await tick();
  sockets[0].serverClose(1006);
  await tick();
  assert.equal(sockets[1].url, "http://h/sse/a?channel=b&lastEventId=e-5");
  sockets[1].open();
  sockets[1].onerror(); // the stream ended (a drain): again over SSE, at once
  await tick();
  assert.equal(sockets[2].url, "http://h/sse/a?channel=b&lastEventId=e-5");
  client.close();
});

test("send() goes out on an open WebSocket only: not while connecting, not after a loss, never over SSE", async () => {
  const client = new TetherClient("http://h", { channels: ["room"], backoff: { initialMs: 1, maxMs: 1 } });
  await tick();
  assert.equal(client.send("early"), false);
  sockets[0].open();
  assert.equal(client.send("hello"), true);
  assert.deepEqual(sockets[0].sent, ["hello"]);
  sockets[0].serverClose(1006);
  assert.equal(client.send("while away"), false);
  client.close();

  const sse = new TetherClient("http://h", { channels: ["room"], transport: "sse" });
  await tick();
  sockets.at(-1).open();
  assert.equal(sse.send("one way"), false);
  assert.deepEqual(sockets.at(-1).sent, []);
  sse.close();
});
