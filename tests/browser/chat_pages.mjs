// Two people chat through examples/chat/index.html in headless Chromium (Debian's /usr/bin/chromium,
// driven by puppeteer-core), each in a browser context of their own, using the page as a user
// would: type a name and a room, press Enter, type messages, press Enter or click Send.
// `node chat_pages.mjs ARGS.json`, ARGS:
//   url             the chat page (http://127.0.0.1:PORT/)
//   room            the room both join
//   people          { A: "name", B: "name" }; B joins after the first `bJoinsAfter` lines
//   lines           [{ from: "A" | "B", text }] or [{ raw }] (published by a third party with
//                   POST {url}chat/pub/{room}, as it is: not JSON)
//   blockWebSocket  [...] who has no WebSocket (as behind a proxy that refuses upgrades)
//   killAfter, workerPids  after that many lines, SIGKILL those pids (tether's workers) and wait
//                   until every page showed "reconnecting" and is connected again
// After each line it waits until every page in the room shows it, then a moment for duplicates.
// Prints one JSON line: per person the transcript read from the DOM ([author, text, kind] with kind
// mine, theirs or unreadable), the connection states it went through and the one shown, whether
// the join form is still shown, the alerts the page raised, what its Content-Security-Policy
// refused (directive and URI), and the elements in the message list
// that the page does not make itself (markup from a message).
// Exit status 0 when the conversation went through, 1 otherwise (the error on stderr).
import { readFileSync } from 'node:fs';
import { blockWebSocket, launchChromium } from './chromium.mjs';

const args = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const waitMs = args.waitMs ?? 20000; // per step: typing and reconnecting are slow on a loaded machine
const pageElements = new Set(['LI', 'DIV', 'SPAN', 'TIME', 'P']);

const browser = await launchChromium();
const watchdog = setTimeout(() => { console.error('no result within 90 s'); process.exit(1); }, 90000);

async function openPage(who) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('console', (message) => console.error(`page ${who}: ${message.text()}`));
  page.on('pageerror', (error) => console.error(`page ${who}: ${error.message}`));
  if ((args.blockWebSocket ?? []).includes(who)) await page.evaluateOnNewDocument(blockWebSocket);
  await page.evaluateOnNewDocument(() => {
    window.alerts = 0;
    window.alert = () => { window.alerts += 1; };
    window.cspViolations = [];
    addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    window.states = [];
    addEventListener('DOMContentLoaded', () => {
      const state = document.getElementById('state');
      new MutationObserver(() => window.states.push(state.dataset.state))
        .observe(state, { attributes: true, attributeFilter: ['data-state'] });
    });
  });
  await page.goto(args.url);
  return page;
}

async function join(page, name) {
  await page.click('#name');
  await page.type('#name', name);
  await page.click('#room', { count: 3 }); // select the suggested room, to type over it
  await page.keyboard.press('Backspace');
  await page.type('#room', args.room);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#state[data-state="connected"]', { timeout: waitMs });
}

async function say(page, text, useButton) {
  await page.click('#text');
  await page.type('#text', text);
  if (useButton) await page.click('#send button');
  else await page.keyboard.press('Enter');
}

const shown = (page, count) => page.waitForFunction(
  (n) => document.querySelectorAll('#messages li.message').length >= n, { timeout: waitMs }, count);

async function report(page) {
  return page.evaluate((known) => ({
    transcript: [...document.querySelectorAll('#messages li.message')].map((li) => [
      li.querySelector('.author')?.textContent ?? null,
      li.querySelector('.text')?.textContent ?? null,
      li.classList.contains('unreadable') ? 'unreadable' : li.classList.contains('mine') ? 'mine' : 'theirs',
    ]),
    state: document.getElementById('state').textContent,
    states: window.states,
    input: document.getElementById('text').value,
    joinShown: getComputedStyle(document.getElementById('join')).display !== 'none',
    alerts: window.alerts,
    csp: window.cspViolations,
    foreign: [...document.querySelectorAll('#messages *')].map((e) => e.tagName).filter((t) => !known.includes(t)),
  }), [...pageElements]);
}

async function killWorkers(pages) {
  for (const page of pages) await page.evaluate(() => { window.states = []; });
  for (const pid of args.workerPids) process.kill(pid, 'SIGKILL');
  for (const page of pages) {
    await page.waitForFunction(() => window.states.includes('reconnecting') &&
                               document.getElementById('state').dataset.state === 'connected', { timeout: waitMs });
  }
}

let status = 0;
try {
  const pages = { A: await openPage('A') };
  await join(pages.A, args.people.A);
  for (const [i, line] of args.lines.entries()) {
    if (i === args.bJoinsAfter) {
      pages.B = await openPage('B');
      await join(pages.B, args.people.B);
    }
    if (line.raw != null) {
      const url = new URL(`chat/pub/${encodeURIComponent(args.room)}`, args.url);
      const response = await fetch(url, { method: 'POST', body: line.raw });
      if (!response.ok) throw new Error(`publishing line ${i}: ${response.status}`);
    } else {
      await say(pages[line.from], line.text, i % 2 === 1);
    }
    for (const page of Object.values(pages)) await shown(page, i + 1);
    if (i + 1 === args.killAfter) await killWorkers(Object.values(pages));
  }
  await new Promise((resolve) => setTimeout(resolve, 500)); // time for a duplicate to show
  const result = {};
  for (const [who, page] of Object.entries(pages)) result[who] = await report(page);
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(`chat failed: ${error?.message ?? error}`);
  status = 1;
} finally {
  clearTimeout(watchdog);
  await browser.close();
}
process.exit(status);
