// The status page given a status.json whose fields are valid JSON but extreme (times no Date
// can hold, numbers past 2^53, a generation with no pids): it must keep rendering every
// section, not go stale or throw.
//   node status_page_extremes.mjs '{"url": "http://127.0.0.1:PORT/status", "json": "{...}"}'
// The page's requests for status.json are answered with `json`. Prints one JSON line
// {rendered, stale, state, rows, subscribers}; exits 1 on a page error, a stale page or a timeout.
import { launchChromium } from './chromium.mjs';

const args = JSON.parse(process.argv[2] ?? '{}');
const browser = await launchChromium();
let status = 0;
try {
  const page = await browser.newPage();
  page.on('console', (message) => console.error(`page: ${message.text()}`));
  page.on('pageerror', (error) => {
    console.error(`page error: ${error.message}`);
    status = 1;
  });
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('/status.json'))
      request.respond({ status: 200, contentType: 'application/json', body: args.json });
    else request.continue();
  });
  await page.goto(args.url);
  await page.waitForFunction(
    () => Number(document.body.dataset.rendered) >= 2 || document.getElementById('state').dataset.stale === 'true',
    { timeout: args.timeoutMs ?? 20000 });
  const result = await page.evaluate(() => ({
    rendered: Number(document.body.dataset.rendered),
    stale: document.getElementById('state').dataset.stale,
    state: document.getElementById('state').textContent,
    rows: document.querySelectorAll('#generations tr[data-generation]').length,
    subscribers: document.getElementById('subscribers').textContent,
  }));
  console.log(JSON.stringify(result));
  if (result.stale !== 'false') status = 1;
} catch (error) {
  console.error(`status page failed: ${error?.message ?? error}`);
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
