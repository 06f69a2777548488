// tether.js in a page (loaded from the server's /tether.js): subscribes, publishes args.count
// messages through the publish API (retrying a publish that failed on the wire), and returns what
// it received once every published id arrived. args.blockWebSocket: the page's WebSocket never
// opens (as behind a proxy that refuses upgrades), so tether.js must fall back to EventSource.
// args.awayAfter: after that many messages the client is closed, args.awayCount more are
// published, then a new client resumes from the old one's lastId (the gap scenario).
async (args) => {
  const { TetherClient } = await import('/tether.js');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const received = [], gaps = [], opens = [], closes = [], errors = [];
  const published = [];
  const wire = (client) => {
    client.on('message', (m) => received.push(m));
    client.on('gap', (g) => gaps.push(g));
    client.on('open', (o) => opens.push(o.transport));
    client.on('close', (c) => closes.push(c.code));
    client.on('error', (e) => errors.push(String(e.error?.message ?? e.error)));
  };
  const options = { channels: [args.channel], transport: args.transport ?? 'auto', backoff: { initialMs: 50, maxMs: 400 } };
  let client = new TetherClient(location.origin, options);
  wire(client);
  const until = async (condition, ms, what) => {
    const end = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: received ${received.length}, published ${published.length}, opens ${opens}, closes ${closes}, errors ${errors}`);
      await sleep(10);
    }
  };
  await until(() => opens.length > 0, 5000, 'the first open');
  const publishOne = async (i) => {
    for (let attempt = 0; attempt < 100; ++attempt) {
      try {
        const r = await fetch(`/pub/${encodeURIComponent(args.channel)}`, { method: 'POST', body: `m${i}` });
        if (r.ok) return (await r.json()).id;
      } catch { /* a killed worker's connection: try again */ }
      await sleep(20);
    }
    throw new Error(`publish ${i} kept failing`);
  };
  const total = args.count + (args.awayCount ?? 0);
  for (let i = 0; i < total; ++i) {
    if (args.awayAfter != null && i === args.awayAfter) {
      await until(() => received.length >= args.awayAfter, 5000, 'the messages before going away');
      const since = client.lastId;
      client.close();
      for (let j = 0; j < args.awayCount; ++j) published.push(await publishOne(i + j));
      i += args.awayCount - 1;
      client = new TetherClient(location.origin, { ...options, since });
      wire(client);
      await until(() => opens.length > 1, 5000, 'the reopen');
      continue;
    }
    published.push(await publishOne(i));
    if (args.intervalMs) await sleep(args.intervalMs);
  }
  const last = published[published.length - 1];
  await until(() => received.some((m) => m.id === last), 8000, 'the last message');
  client.close();
  // The verdicts, for the test to check: every published id exactly once, in publish order.
  const ids = received.map((m) => m.id);
  const seen = new Set(ids);
  const missing = published.filter((id) => !seen.has(id));
  const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
  const positions = published.map((id) => ids.indexOf(id)).filter((p) => p >= 0);
  const outOfOrder = positions.filter((p, i) => i > 0 && p < positions[i - 1]).length;
  const wrongChannel = received.filter((m) => m.channel !== args.channel).length;
  // With a gap scenario: what was published while the client was connected (before it went away,
  // and after it came back) must all be there; only what it was away for may be gone.
  const away = args.awayAfter == null ? [] : published.slice(args.awayAfter, args.awayAfter + args.awayCount);
  const missingWhileConnected = missing.filter((id) => !away.includes(id)).length;
  return { missing, missingWhileConnected, duplicates, outOfOrder, wrongChannel, received: ids.length, published: published.length,
           gaps, opens, closes, errors };
}
