// The chat example's page logic (index.html): rooms on tether's publish API, through tether.js.
// Everything a message carries is shown with textContent, never parsed as HTML.
import { TetherClient, publish } from "/tether.js";

const $ = (id) => document.getElementById(id);
const list = $("messages");
const ROOM = /^[A-Za-z0-9_.:@-]{1,64}$/; // a subset of tether's channel names
const KEPT = 500; // messages kept in the page
let client = null, me = "", room = "";

const fromHash = () => { try { return decodeURIComponent(location.hash.slice(1)); } catch { return ""; } };
$("room").value = ROOM.test(fromHash()) ? fromHash() : "lobby";
$("name").value = localStorage.getItem("chat-name") ?? "";

function setState(state, label = state) {
  $("state").dataset.state = state;
  $("state").textContent = label;
}

// A message's data is {name, text, sentAt} as JSON; anything else (another publisher, a bad
// client) is shown as it is, marked unreadable.
function parse(data) {
  try {
    const m = JSON.parse(data);
    if (typeof m?.name === "string" && typeof m.text === "string")
      return { name: m.name.slice(0, 32), text: m.text, sentAt: new Date(m.sentAt) };
  } catch { /* not JSON */ }
  return { name: "unknown sender", text: String(data).slice(0, 1000), sentAt: null, unreadable: true };
}

function append(item) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  while (list.children.length > KEPT) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function add(parent, tag, className, text) {
  const element = parent.appendChild(document.createElement(tag));
  element.className = className;
  element.textContent = text;
  return element;
}

function show(m) {
  const item = document.createElement("li");
  item.className = "message" + (m.unreadable ? " unreadable" : m.name === me ? " mine" : "");
  const meta = add(item, "div", "meta", "");
  add(meta, "span", "author", m.name);
  if (m.sentAt && !Number.isNaN(m.sentAt.getTime())) {
    const time = add(meta, "time", "", m.sentAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    time.dateTime = m.sentAt.toISOString();
  }
  add(item, "p", "text", m.text);
  append(item);
}

function note(text) {
  const item = document.createElement("li");
  item.className = "note";
  item.textContent = text;
  append(item);
}

function join() {
  client?.close();
  list.replaceChildren();
  $("room-title").textContent = "· " + room;
  document.title = `${room} · tether chat`;
  setState("connecting", "connecting…");
  let seen = false;
  // since "0" is an id of no epoch: the server sends the room's whole kept history first, after
  // a gap notice that only means "older messages are gone" (ignored until something was seen).
  client = new TetherClient(location.origin, {
    channels: [room], since: "0", paths: { websocket: "/chat/ws/", sse: "/chat/sse/" },
  });
  client.on("open", ({ transport }) => setState("connected", transport === "sse" ? "connected (SSE)" : "connected"));
  client.on("close", ({ reconnect }) => setState(reconnect ? "reconnecting" : "disconnected",
                                                 reconnect ? "reconnecting…" : "disconnected"));
  client.on("error", ({ error, fatal }) => { if (fatal) setState("disconnected", `disconnected: ${error.message}`); });
  client.on("message", ({ data }) => { seen = true; show(parse(data)); });
  client.on("gap", () => { if (seen) note("Some messages were missed while disconnected."); });
  client.on("dropped", ({ count }) => note(`${count} messages were dropped: this page fell behind.`));
  $("join").hidden = true;
  $("chat").hidden = false;
  $("text").focus();
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  me = $("name").value.trim();
  room = $("room").value.trim();
  if (!me || !ROOM.test(room)) return;
  localStorage.setItem("chat-name", me);
  history.replaceState(null, "", "#" + encodeURIComponent(room));
  join();
});

// Another room in the address bar (a link, the back button): move there.
addEventListener("hashchange", () => {
  if (!client || !ROOM.test(fromHash()) || fromHash() === room) return;
  room = $("room").value = fromHash();
  join();
});

// Over WebSocket the text goes out on the socket (the route publishes it to the room); over SSE,
// which only receives, through the publish API. Either way it comes back as a message.
$("send").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !client) return;
  const data = JSON.stringify({ name: me, text, sentAt: new Date().toISOString() });
  try {
    if (!client.send(data)) {
      if (client.transport !== "sse") throw new Error("not connected");
      await publish(location.origin, room, data, { path: "/chat/pub/" });
    }
    $("text").value = "";
  } catch (error) {
    note(`Not sent (${error.message}); try again.`);
  }
});
