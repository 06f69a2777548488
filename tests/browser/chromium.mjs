// The headless Chromium every browser test runs: Debian's /usr/bin/chromium (or $CHROMIUM),
// driven by puppeteer-core.
import puppeteer from 'puppeteer-core';

export function launchChromium() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: the tests run as root in CI, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
}

// Run in a page before its own scripts (page.evaluateOnNewDocument(blockWebSocket)): a WebSocket
// that never opens and closes with 1006 at once, as behind a proxy that blocks them.
export function blockWebSocket() {
  window.WebSocket = class {
    constructor() {
      this.readyState = 0;
      setTimeout(() => { this.readyState = 3; this.onclose?.({ code: 1006, reason: '' }); }, 10);
    }
    close() {}
    send() { throw new Error('not open'); }
  };
}
