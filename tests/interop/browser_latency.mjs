// Opens latency.html from latency_server in headless Chromium (driven by
// playwright-core) and prints what the page measured as one JSON line.
// Usage: node browser_latency.mjs URL [--transports polling] [--round-trips 20]
//        [--expect-transport websocket]  (also wait until the page uses it)
//        [--ignore-https-errors]          (a server whose certificate the browser
//                                          does not trust: a test CA)
import { chromium } from 'playwright-core';

const url = process.argv[2];
const args = process.argv.slice(3);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const transports = flag('--transports', 'polling,websocket');
const wanted = Number(flag('--round-trips', '20'));
const expectTransport = flag('--expect-transport', null);
const executablePath = process.env.ENGINEIO_CHROMIUM || '/usr/bin/chromium';

const fail = (error) => {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
  process.exit(1);
};
setTimeout(() => fail('timed out after 60 s'), 60000).unref();

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({
    ignoreHTTPSErrors: process.argv.includes('--ignore-https-errors'),
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/?transports=${transports}`);
  await page.waitForFunction(([n, t]) => window.latency && window.latency.roundTrips >= n
    && (t === null || window.latency.transport === t), [wanted, expectTransport],
    { timeout: 30000 });
  const s = await page.evaluate(() => window.latency);
  const mean = s.samples.reduce((a, b) => a + b, 0) / s.samples.length;
  console.log(JSON.stringify({ ok: s.connected && errors.length === 0, connected: s.connected,
    transport: s.transport, roundTrips: s.roundTrips, meanMs: mean, errors }));
  await browser.close();
  process.exit(0);
} catch (e) {
  if (browser) await browser.close().catch(() => {});
  fail(e);
}
