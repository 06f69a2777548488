// A chat room in Chromium with permessage-deflate: the page subscribes to a room
// (client_messages = "publish"), says `said` messages (which Chromium compresses) and publishes
// `published` more through POST /pub; every one comes back through the room. Returns the
// extension Chromium negotiated, the indices of each kind in the order they arrived, and whether
// every payload arrived byte for byte.
async (args) => {
  const saidText = (i) => `said ${i} ` + 'tether holds the connection '.repeat(40);
  const publishedText = (i) => `published ${i} ` + 'and feeds it; '.repeat(200);
  const ws = new WebSocket(`ws://127.0.0.1:${args.port}/room/${args.channel}`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('the WebSocket did not open'));
  });
  const said = [], published = [];
  let intact = true;
  const all = new Promise((resolve, reject) => {
    ws.onclose = (event) => reject(new Error(`closed with ${event.code} ${event.reason}`));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (typeof message.data !== 'string') return;  // a notice
      const [kind, index] = message.data.split(' ', 2);
      const i = Number(index);
      if (kind === 'said') {
        said.push(i);
        intact &&= message.data === saidText(i);
      } else {
        published.push(i);
        intact &&= message.data === publishedText(i);
      }
      if (said.length + published.length === args.said + args.published) resolve();
    };
  });
  for (let i = 0; i < args.said; ++i) ws.send(saidText(i));
  for (let i = 0; i < args.published; ++i) {
    const answer = await fetch(`/pub/${args.channel}`, { method: 'POST', body: publishedText(i) });
    if (!answer.ok) throw new Error(`POST /pub answered ${answer.status}`);
  }
  await all;
  ws.onclose = null;
  ws.close();
  return { extensions: ws.extensions, said, published, intact };
}
