// The status page in headless Chromium (Debian's /usr/bin/chromium, driven by puppeteer-core):
//   node status_page.mjs '{"url": "http://127.0.0.1:PORT/status", "screenshot": "/tmp/x.png",
//                          "expectDraining": true, "timeoutMs": 20000}'
// Opens the page, waits until it has rendered figures (and, with expectDraining, a draining and a
// serving generation), takes a screenshot, then reads every figure from the DOM and /metrics at
// the same moment and compares them. A figure is compared again on the page's next render when
// the two differ (the page shows what status.json said up to a second before); the run fails
// when they never agree. Prints one JSON line: {agreed, attempts, figures, differences, ...}.
import { statSync } from 'node:fs';
import { launchChromium } from './chromium.mjs';

const args = JSON.parse(process.argv[2] ?? '{}');
const timeoutMs = args.timeoutMs ?? 20000;
const kAttempts = 8;

// The figures as the page shows them: only its DOM, through its documented ids and attributes.
function readFigures() {
  const number = (id) => Number(document.getElementById(id).textContent);
  const connections = {};
  for (const e of document.querySelectorAll('#connections [data-kind]')) connections[e.dataset.kind] = Number(e.textContent);
  const workers = {};
  for (const state of ['starting', 'serving', 'draining', 'stopping']) workers[state] = number(`workers-${state}`);
  const generations = [...document.querySelectorAll('#generations tr[data-generation]')].map((row) => ({
    number: Number(row.dataset.generation),
    state: row.dataset.state,
    running: Number(row.querySelector('[data-field="running"]').dataset.running),
  }));
  const channels = [...document.querySelectorAll('#channels tr[data-channel]')].map((row) => ({
    name: row.dataset.channel,
    subscribers: Number(row.querySelector('[data-field="subscribers"]').textContent),
  }));
  return {
    rendered: Number(document.body.dataset.rendered),
    connections,
    subscribers: number('subscribers'),
    workers,
    generations,
    reloads: number('reloads-total'),
    lastReloadOk: document.getElementById('last-reload-result').dataset.ok,
    channels,
    rates: Object.fromEntries(['published', 'delivered', 'dropped'].map((n) => [n, number(`rate-${n}`)])),
  };
}

function parseMetrics(page) {
  const values = {};
  for (const line of page.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?\d+)$/.exec(line);
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

// Where the page and /metrics disagree (empty: they agree).
function differences(figures, metrics) {
  const found = [];
  const compare = (what, shown, expected) => {
    if (shown !== expected) found.push(`${what}: page ${shown}, /metrics ${expected}`);
  };
  const kinds = new Set(Object.keys(figures.connections));
  for (const key of Object.keys(metrics)) {
    const match = /^tether_connections_open\{kind="([^"]*)"\}$/.exec(key);
    if (match) kinds.add(match[1]);
  }
  for (const kind of kinds) compare(`connections ${kind}`, figures.connections[kind], metrics[`tether_connections_open{kind="${kind}"}`]);
  let subscribers = 0;
  for (const [key, value] of Object.entries(metrics)) if (key.startsWith('tether_subscribers{')) subscribers += value;
  compare('subscribers', figures.subscribers, subscribers);
  for (const [state, shown] of Object.entries(figures.workers)) {
    compare(`workers ${state}`, shown, metrics[`tether_workers{state="${state}"}`]);
    const rows = figures.generations.filter((g) => g.state === state).length;
    compare(`generations ${state}`, rows, metrics[`tether_generations{state="${state}"}`]);
  }
  compare('reloads', figures.reloads, metrics.tether_reloads_total);
  return found;
}

const browser = await launchChromium();
let status = 0;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  page.on('console', (message) => console.error(`page: ${message.text()}`));
  // An exception in the page is a failure even when the figures agree.
  page.on('pageerror', (error) => {
    console.error(`page error: ${error.message}`);
    status = 1;
  });
  await page.goto(args.url);
  await page.waitForFunction(
    (expectDraining) => Number(document.body.dataset.rendered) >= 2 &&
      (!expectDraining || (document.querySelector('#generations tr[data-state="draining"]') &&
                           document.querySelector('#generations tr[data-state="serving"]'))),
    { timeout: timeoutMs }, Boolean(args.expectDraining));
  await page.screenshot({ path: args.screenshot, fullPage: true });
  let figures, metrics, found = ['not compared'], attempts = 0;
  while (found.length && attempts < kAttempts) {
    ++attempts;
    if (attempts > 1) {
      const seen = figures.rendered;
      await page.waitForFunction((n) => Number(document.body.dataset.rendered) > n, { timeout: timeoutMs }, seen);
    }
    // The DOM, then /metrics right after it (fetched by the page, under its own CSP).
    figures = await page.evaluate(readFigures);
    metrics = parseMetrics(await page.evaluate(async () => (await fetch('/metrics', { cache: 'no-store' })).text()));
    found = differences(figures, metrics);
  }
  const stale = await page.$eval('#state', (e) => e.dataset.stale);
  console.log(JSON.stringify({
    agreed: found.length === 0, attempts, differences: found, figures, stale,
    screenshotBytes: statSync(args.screenshot).size,
  }));
  if (found.length) status = 1;
} catch (error) {
  console.error(`status page failed: ${error?.message ?? error}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
