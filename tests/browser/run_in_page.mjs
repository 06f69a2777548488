// Runs one test scenario in headless Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core): `node run_in_page.mjs SCENARIO.js 'ARGS-JSON'`. SCENARIO.js holds one async
// function expression; it runs with ARGS in the page at ARGS.pageUrl (a page of the tether under
// test, so that the scenario's requests are same-origin; about:blank without it) and its result
// is printed as one JSON line; with ARGS.blockWebSocket the page's WebSocket never opens. The exit
// status is 0 when it returned, 1 when it threw or timed out (the error on stderr).
import { readFileSync } from 'node:fs';
import { blockWebSocket, launchChromium } from './chromium.mjs';

const [scenarioPath, argsJson = '{}'] = process.argv.slice(2);
if (!scenarioPath) {
  console.error('usage: node run_in_page.mjs SCENARIO.js [ARGS-JSON]');
  process.exit(2);
}
const scenario = readFileSync(scenarioPath, 'utf8').trim();
const args = JSON.parse(argsJson);
const timeoutMs = args.timeoutMs ?? 20000;

const browser = await launchChromium();
let status = 0;
try {
  const page = await browser.newPage();
  page.on('console', (message) => console.error(`page: ${message.text()}`));
  if (args.blockWebSocket) await page.evaluateOnNewDocument(blockWebSocket);
  await page.goto(args.pageUrl ?? 'about:blank');
  const result = await Promise.race([
    page.evaluate(`(${scenario})(${JSON.stringify(args)})`),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no result within ${timeoutMs} ms`)), timeoutMs)),
  ]);
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(`scenario failed: ${error?.message ?? error}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
