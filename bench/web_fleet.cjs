// web_fleet.cjs - the dashboard's fleet page at scale, in Debian's chromium (headless):
// time to first render of the fleet page (navigation start to the first page of devices
// in the table, the app's 'fleet-rendered' mark), a search and the next page, and the
// size and time of the API answers behind them. Prints figures; never pass/fail.
// Run by scripts/bench-web.sh, which starts moltd with DEVICES provisioned devices.
'use strict';
const { launch } = require('../tests/web/browser.cjs');

const URL0 = process.env.MOLT_URL, TOKEN = process.env.TOKEN, RUNS = Number(process.env.RUNS || 7);
const median = a => { const s = a.slice().sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const fmt = a => `median ${median(a).toFixed(0)} ms (min ${Math.min(...a).toFixed(0)}, max ${Math.max(...a).toFixed(0)}, ${a.length} runs)`;

async function apiTime(path) {
  const t = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const res = await fetch(URL0 + path, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const body = await res.arrayBuffer();
    t.push(performance.now() - t0);
    bytes = body.byteLength;
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  }
  return { t, bytes };
}

async function main() {
  const { browser, close } = await launch();
  try {
    const first = [], search = [], next = [];
    let total = '';
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.createBrowserContext();
      const page = await ctx.newPage();
      await page.evaluateOnNewDocument(t => sessionStorage.setItem('molt.token', t), TOKEN);
      await page.goto(`${URL0}/ui/#/fleet`);
      await page.waitForFunction(() => document.body.dataset.fleetRendered !== undefined, { timeout: 60000 });
      first.push(await page.evaluate(() => performance.getEntriesByName('fleet-rendered')[0].startTime));
      total = await page.$eval('#fleet-info', e => e.textContent);
      // a search for one device (the input is debounced by 200 ms, subtracted)
      let t0 = await page.evaluate(() => {
        const q = document.querySelector('#fleet-q');
        q.value = 'dev-09999';
        q.dispatchEvent(new Event('input'));
        return performance.now();
      });
      await page.waitForFunction(() => document.querySelector('#fleet-info').textContent === '1–1 of 1', { timeout: 60000 });
      search.push(await page.evaluate(s => performance.now() - s, t0) - 200);
      await page.$eval('#fleet-q', e => { e.value = ''; e.dispatchEvent(new Event('input')); });
      await page.waitForFunction(() => /^1–50 of/.test(document.querySelector('#fleet-info').textContent), { timeout: 60000 });
      t0 = await page.evaluate(() => performance.now());
      await page.click('#fleet-next');
      await page.waitForFunction(() => /^51–100 of/.test(document.querySelector('#fleet-info').textContent), { timeout: 60000 });
      next.push(await page.evaluate(s => performance.now() - s, t0));
      await ctx.close();
    }
    console.log(`fleet page (${total}):`);
    console.log(`  time to first render (navigation start to the first 50 devices shown): ${fmt(first)}`);
    console.log(`  search for one device (answer and render, debounce excluded):          ${fmt(search)}`);
    console.log(`  next page:                                                               ${fmt(next)}`);
    const page = await apiTime('/api/v1/fleet?limit=50');
    const searched = await apiTime('/api/v1/fleet?limit=50&q=dev-09999');
    const all = await apiTime('/api/v1/devices');
    console.log('API answers behind it (node fetch, one keep-alive connection):');
    console.log(`  GET /api/v1/fleet?limit=50 (one page and the total):  ${(page.bytes / 1024).toFixed(1)} KiB, ${fmt(page.t)}`);
    console.log(`  GET /api/v1/fleet?limit=50&q=dev-09999:               ${(searched.bytes / 1024).toFixed(1)} KiB, ${fmt(searched.t)}`);
    console.log(`  GET /api/v1/devices (every device, for comparison):   ${(all.bytes / 1024).toFixed(1)} KiB, ${fmt(all.t)}`);
  } finally {
    await close();
  }
}
main().catch(e => { console.error(`web_fleet: ${e.stack || e}`); process.exit(1); });
