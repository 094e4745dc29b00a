// Opens a test page in headless Chromium (driven by playwright-core), waits for the
// page to set `window.result`, and prints it as one JSON line, with the page's
// uncaught errors added as `pageErrors`.
//
// Usage: node tests/interop/browser_result.mjs URL [--timeout-ms 30000] [--linger-ms 500]
//   --linger-ms: how long the page stays open after its result, so that what it sent
//                last (a close packet in a POST) reaches the server.
// Exits 0 when the page's result has ok: true and no page error occurred, else 1.
import { chromium } from 'playwright-core';

const url = process.argv[2];
const args = process.argv.slice(3);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const timeoutMs = Number(flag('--timeout-ms', '30000'));
const lingerMs = Number(flag('--linger-ms', '500'));
const executablePath = process.env.ENGINEIO_CHROMIUM || '/usr/bin/chromium';

let browser;
const fail = async (error, extra = {}) => {
  console.log(JSON.stringify({ ok: false, error: String(error), ...extra }));
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
};
setTimeout(() => fail(`timed out after ${timeoutMs + 15000} ms`), timeoutMs + 15000).unref();

if (!url) await fail('usage: browser_result.mjs URL [--timeout-ms MS] [--linger-ms MS]');

const pageErrors = [];
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Not the load event: JSONP's long-poll <script> and form iframe delay it for as
  // long as the session lives.
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
  try {
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: timeoutMs });
  } catch (e) {
    const status = await page.evaluate(() => document.getElementById('status')?.textContent)
      .catch(() => null);
    await fail(`no result within ${timeoutMs} ms: ${e.message.split('\n')[0]}`, { status, pageErrors });
  }
  const result = await page.evaluate(() => window.result);
  await new Promise((resolve) => setTimeout(resolve, lingerMs));
  await browser.close();
  const ok = result.ok === true && pageErrors.length === 0;
  console.log(JSON.stringify({ ...result, ok, pageErrors }));
  process.exit(ok ? 0 : 1);
} catch (e) {
  await fail(e, { pageErrors });
}
