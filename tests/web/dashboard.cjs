// dashboard.cjs - the deployer dashboard in a real browser (Debian's chromium, headless),
// against the real moltd and agents that tests/web.sh starts. Every check names the exact
// text or number it wants; the expected values come from the shell (what it provisioned,
// sha256sum of the files, the reason the agent is known to send), not from the page.
// Prints "N passed, N failed" and exits non-zero on any failure. Screenshots go to $ARTIFACTS.
'use strict';
const fs = require('fs');
const path = require('path');
const { launch } = require('./browser.cjs');

const env = name => {
  const v = process.env[name];
  if (v === undefined) { console.error(`dashboard.cjs: ${name} is not set`); process.exit(2); }
  return v;
};
const URL0 = env('MOLT_URL'), VIEWER = env('VIEWER_TOKEN'), OPERATOR = env('OPERATOR_TOKEN');
const ART = env('ARTIFACTS'), DEVICES = env('DEVICES').split(' '), FAILED = env('FAILED_DEVICE');
const FAIL_REASON = env('FAIL_REASON'), P2 = env('P2_ID'), V1 = env('V1_VERSION'), V2 = env('V2_VERSION');
const V3_FILE = env('V3_FILE'), V3_SHA = env('V3_SHA256'), V3_VERSION = env('V3_VERSION'), V3_CNT = env('V3_COUNTER');
const BAD_FILE = env('BAD_FILE'), DOWNLOADS = env('DOWNLOADS');

let pass = 0, fail = 0;
function check(cond, what, detail) {
  if (cond) { pass++; console.log(`ok: ${what}`); } else { fail++; console.log(`FAIL: ${what}${detail !== undefined ? `: ${detail}` : ''}`); }
}
function eq(got, want, what) { check(got === want, what, `got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); }

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const { browser, close } = await launch();
  const problems = [];
  try {
    const page = await browser.newPage();
    // Refusals the test provokes show as failed loads; anything else in the console is a fault.
    const expected = /^Failed to load resource: the server responded with a status of (401|403|422) /;
    page.on('console', m => { if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console: ${m.text()}`); });
    await page.evaluateOnNewDocument(() => {
      window.__csp = [];
      document.addEventListener('securitypolicyviolation', e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('pageerror', e => problems.push(`page error: ${e.message}`));
    const shot = name => page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
    const text = sel => page.$eval(sel, e => e.textContent.trim());
    const texts = sel => page.$$eval(sel, es => es.map(e => e.textContent.trim()));
    const waitText = (sel, want, timeout = 10000) => page.waitForFunction(
      (s, w) => { const e = document.querySelector(s); return e && e.textContent.trim() === w; }, { timeout }, sel, want)
      .then(() => true, () => false);
    async function loginAs(token) {
      await page.waitForSelector('#token', { visible: true });
      await page.$eval('#token', e => { e.value = ''; });
      await page.type('#token', token);
      await page.click('#login-form button[type=submit]');
    }
    async function go(hash, ready) {
      await page.evaluate(h => { location.hash = h; }, hash);
      await page.waitForSelector(ready, { timeout: 10000 });
    }

    // --- the page and its headers: a strict CSP, no secret in the files
    const res = await page.goto(`${URL0}/`, { waitUntil: 'load' });
    eq(new URL(page.url()).pathname, '/ui/', '/ redirects to /ui/');
    const csp = res.headers()['content-security-policy'] || '';
    check(/script-src 'self';/.test(csp) && /style-src 'self';/.test(csp) && /default-src 'none'/.test(csp) &&
      !/unsafe-inline|unsafe-eval/.test(csp), 'a strict Content-Security-Policy', csp);
    eq(res.headers()['x-frame-options'], 'DENY', 'X-Frame-Options');
    const inline = await page.evaluate(() => ({
      scripts: [...document.scripts].filter(s => !s.src).length,
      styles: document.querySelectorAll('style,[style]').length,
    }));
    eq(JSON.stringify(inline), '{"scripts":0,"styles":0}', 'no inline script or style');
    // The CSP is enforced: an inline script injected now does not run.
    const ran = await page.evaluate(() => {
      window.__inlineRan = false;
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.append(s);
      return window.__inlineRan;
    });
    eq(ran, false, 'an injected inline script is blocked by the CSP');
    eq(JSON.stringify(await page.evaluate(() => window.__csp)), '["script-src-elem inline"]', 'and reported as the one violation');
    problems.length = 0; // that refusal is logged as a console error on purpose

    // --- log in: a wrong token is refused; the token lives in sessionStorage only
    await loginAs('not-a-token-of-this-moltd');
    check(await waitText('#login-error', '401: unknown token'), 'a wrong token is refused', await text('#login-error'));
    await loginAs(VIEWER);
    check(await waitText('#role', 'viewer'), 'the viewer logs in and its role is shown', await text('#role'));
    eq(await text('#actor'), 'token:audit', 'the viewer token\'s actor');
    const stored = await page.evaluate(() => ({ s: sessionStorage.getItem('molt.token'), l: localStorage.length,
      c: document.cookie }));
    check(stored.s === VIEWER && stored.l === 0 && stored.c === '', 'the token is kept in sessionStorage only',
      JSON.stringify(stored));

    // --- the fleet
    await page.waitForSelector('#fleet-rows tr[data-device]');
    eq((await texts('#fleet-rows tr[data-device] td:first-child')).join(' '), DEVICES.join(' '), 'the fleet lists every device');
    eq(await text('#fleet-info'), `1–${DEVICES.length} of ${DEVICES.length}`, 'the fleet pager');
    // moltd learns a version from a device's success feedback or its attestation: none yet
    eq((await texts('#fleet-rows tr td:nth-child(3)')).join(' '), DEVICES.map(() => '—').join(' '), 'no reported version yet');
    await page.type('#fleet-q', DEVICES[1]);
    check(await waitText('#fleet-info', '1–1 of 1'), 'search narrows the fleet', await text('#fleet-info'));
    eq((await texts('#fleet-rows tr[data-device] td:first-child')).join(' '), DEVICES[1], 'search finds the device');
    await page.$eval('#fleet-q', e => { e.value = ''; e.dispatchEvent(new Event('input')); });
    check(await waitText('#fleet-info', `1–${DEVICES.length} of ${DEVICES.length}`), 'clearing the search');
    await shot('fleet-viewer');

    // --- the viewer cannot start a campaign: the form is read-only, and forcing it is refused by moltd
    await go('#/campaigns', '#campaign-form');
    await page.waitForSelector(`#c-package option[value="${P2}"]`);
    eq(await text('#readonly'), 'Read-only: this token is a viewer; the operator role is needed to change anything here.',
      'the viewer sees the campaign form read-only');
    eq(await page.$eval('#c-submit', e => e.disabled), true, 'the viewer\'s start button is disabled');
    await page.type('#c-name', 'viewer-attempt');
    await page.select('#c-package', P2);
    await page.$eval('#c-submit', e => { e.disabled = false; }); // as an attacker with DevTools would
    await page.click('#c-submit');
    check(await waitText('#campaign-error', '403: needs the operator role (this token is viewer)'),
      'moltd refuses the viewer\'s campaign (403)', await text('#campaign-error'));
    await shot('viewer-refused');
    await go('#/packages', '#upload-form');
    eq(await page.$eval('#u-submit', e => e.disabled), true, 'the viewer\'s upload button is disabled');
    await page.click('#logout');
    check(await page.evaluate(() => sessionStorage.getItem('molt.token')) === null, 'log out forgets the token');

    // --- the operator: packages are verified on upload (a tampered image is refused with lib/'s reason)
    await loginAs(OPERATOR);
    check(await waitText('#role', 'operator'), 'the operator logs in', await text('#role'));
    await go('#/packages', '#upload-form');
    await page.waitForSelector('#u-class option');
    const upload = async file => {
      const input = await page.$('#u-file');
      await input.uploadFile(file);
      await page.$eval('#upload-error', e => { e.textContent = ''; });
      await page.$eval('#upload-ok', e => { e.textContent = ''; });
      await page.click('#u-submit');
      await page.waitForFunction(() => document.querySelector('#upload-error').textContent ||
        document.querySelector('#upload-ok').textContent, { timeout: 15000 });
    };
    await upload(BAD_FILE);
    eq(await text('#upload-error'), env('BAD_REFUSAL'), 'a tampered upload is refused with lib/\'s reason');
    await upload(V3_FILE);
    eq(await text('#upload-ok'), `verified and stored: package #3, sensor ${V3_VERSION}, security counter ${V3_CNT}, signer vendor`,
      'the upload is verified and stored');
    await page.waitForSelector('#package-rows tr[data-package="3"]');
    const row = await page.$$eval('#package-rows tr[data-package="3"] td', tds => tds.map(t => t.textContent.trim()));
    eq(JSON.stringify(row.slice(0, 8)), JSON.stringify(['#3', 'sensor', V3_VERSION, V3_CNT, 'vendor', V3_SHA,
      String(fs.statSync(V3_FILE).size), 'none']), 'the package\'s verified details');
    await shot('packages');

    // --- start a campaign and watch it reach 100 % without reloading the page
    await go('#/campaigns', '#campaign-form');
    await page.waitForSelector(`#c-package option[value="${P2}"]`);
    await page.type('#c-name', 'v2 rollout');
    await page.select('#c-package', P2);
    await page.$eval('#c-steps', e => { e.value = ''; });
    await page.type('#c-steps', '50, 100');
    await page.$eval('#c-threshold', e => { e.value = ''; });
    await page.type('#c-threshold', '50');
    await page.type('#c-message', 'Sensor firmware 2.0.0 is being installed.');
    await page.click('#c-submit');
    await page.waitForSelector('#campaign-progress', { timeout: 10000 });
    const cid = (page.url().match(/#\/campaign\/(\d+)$/) || [])[1];
    eq(cid, '1', 'the campaign is created and its live view opens');
    await page.evaluate(() => { window.__sameDocument = true; });
    const seen = new Set();
    const t0 = Date.now();
    let done = false;
    while (Date.now() - t0 < 150000) {
      const p = await text('#campaign-progress').catch(() => '');
      seen.add(p);
      if (p === '100 %') { done = true; break; }
      await new Promise(r => setTimeout(r, 250));
    }
    check(done, 'the campaign reaches 100 %', [...seen].join(', '));
    check(seen.size >= 2, 'the progress moved while watched (live updates)', [...seen].join(', '));
    eq(await page.evaluate(() => window.__sameDocument === true), true, 'no page reload on the way');
    await page.waitForFunction(() => /finished/.test(document.querySelector('#campaign-head h1').textContent), { timeout: 10000 })
      .catch(() => {});
    eq(await text('#campaign-head h1'), 'Campaign #1: v2 rollout finished', 'the campaign is finished');
    eq(await text('#campaign-counts'), `${DEVICES.length} of ${DEVICES.length} devices finished: ${DEVICES.length - 1} success, 1 failure`,
      'the final counts');
    eq(JSON.stringify(await texts('#campaign-steps tr td:nth-child(3)')), JSON.stringify(['100 %', '100 %']), 'both steps done');
    eq((await page.$$eval('#campaign-plot polyline', ps => ps.map(p => p.dataset.state))).join(' '),
      'assigned running downloaded success failure', 'the plot has a line per state reached');
    eq((await page.$$eval('#campaign-failed tr[data-device]', rs => rs.map(r => r.dataset.device))).join(' '), FAILED,
      'the failed device is listed');
    eq(await text('#campaign-failed tr[data-device] td.reason'), FAIL_REASON, 'and why it failed');
    await shot('campaign-100');

    // --- the failed device's page: its action, the reason, the attestation evidence
    await page.click(`#campaign-failed a[href="#/device/${FAILED}"]`);
    await page.waitForSelector('#device-actions tr[data-action]');
    eq(await text('#device-actions tr[data-action] td.reason'), FAIL_REASON, 'the device page shows the reason');
    eq(await page.$eval('#device-actions tr[data-action]', e => e.dataset.state), 'failure', 'the action failed');
    await page.waitForSelector('#device-evidence');
    eq(await text('#device-attested'), V1, 'attested version: the one it reverted to');
    const ev = await page.$$eval('#device-evidence dd', ds => ds.map(d => d.textContent.trim()));
    check(/^[0-9a-f]{64}$/.test(ev[1]) && /^[0-9a-f]{64}$/.test(ev[2]), 'attestation evidence: token hash and nonce', ev.join(' | '));
    await shot('device-failed');

    // --- the audit log: filtered, exported as CSV
    await go('#/audit', '#audit-form');
    await page.type('#a-what', 'update.failure');
    await page.click('#a-apply');
    await page.waitForFunction(() => document.querySelectorAll('#audit tr[data-audit]').length === 1 &&
      document.querySelector('#audit tr[data-audit]').dataset.what === 'update.failure', { timeout: 10000 }).catch(() => {});
    const arow = await page.$$eval('#audit tr[data-audit] td', tds => tds.map(t => t.textContent.trim()));
    eq(JSON.stringify([arow[2], arow[3], arow[4], arow[7]]), JSON.stringify([`device:${FAILED}`, 'update.failure', FAILED, FAIL_REASON]),
      'the audit filter finds the failure');
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: DOWNLOADS });
    await page.click('#a-csv');
    const csvPath = path.join(DOWNLOADS, 'molt-audit.csv');
    for (let i = 0; i < 100 && !fs.existsSync(csvPath); i++) await new Promise(r => setTimeout(r, 100));
    const csv = fs.existsSync(csvPath) ? fs.readFileSync(csvPath, 'utf8').split('\r\n') : [];
    eq(csv[0], 'id,at,actor,what,object,version_before,version_after,detail', 'the CSV export\'s header');
    check(csv.length === 3 && csv[2] === '' && /^\d+,\d+,/.test(csv[1]) &&
      csv[1].replace(/^\d+,\d+,/, '') === `device:${FAILED},update.failure,${FAILED},,,${FAIL_REASON}`,
      'the CSV export holds exactly the filtered record', JSON.stringify(csv));
    await shot('audit');

    // --- pause, resume and cancel a campaign (v3 to one device, no agent polling)
    await go('#/campaigns', '#campaign-form');
    await page.waitForSelector('#c-package option[value="3"]');
    await page.type('#c-name', 'v3-controls');
    await page.select('#c-package', '3');
    await page.type('#c-ids', DEVICES[0]);
    await page.click('#c-submit');
    await page.waitForSelector('#campaign-head [data-op=pause]:not([disabled])', { timeout: 10000 });
    await page.click('#campaign-head [data-op=pause]');
    check(await waitText('#campaign-head h1', 'Campaign #2: v3-controls paused'), 'pause', await text('#campaign-head h1'));
    await page.waitForSelector('#campaign-head [data-op=resume]:not([disabled])');
    await page.click('#campaign-head [data-op=resume]');
    check(await waitText('#campaign-head h1', 'Campaign #2: v3-controls running'), 'resume', await text('#campaign-head h1'));
    await page.waitForSelector('#campaign-head [data-op=cancel]:not([disabled])');
    await page.click('#campaign-head [data-op=cancel]');
    check(await waitText('#campaign-head h1', 'Campaign #2: v3-controls cancelled'), 'cancel', await text('#campaign-head h1'));
    check(await waitText('#campaign-counts', '1 of 1 devices finished: 1 cancelled'), 'the cancelled action', await text('#campaign-counts'));

    // --- the fleet afterwards: reported and attested versions side by side
    await go('#/fleet', '#fleet-rows tr[data-device]');
    await page.waitForFunction(v => [...document.querySelectorAll('#fleet-rows tr td:nth-child(4)')].every(t => t.textContent !== '—'),
      { timeout: 10000 }, V2).catch(() => {});
    const fleet = await page.$$eval('#fleet-rows tr[data-device]', rs => rs.map(r =>
      [...r.children].slice(0, 4).map(t => t.textContent.trim()).join(' ')));
    eq(fleet.join(' | '), DEVICES.map(d => `${d} sensor ${d === FAILED ? '—' : V2} ${d === FAILED ? V1 : V2}`).join(' | '),
      'the fleet after the campaign (reported, attested)');
    await shot('fleet-after');
    eq(JSON.stringify(await page.evaluate(() => window.__csp)), '["script-src-elem inline"]',
      'no CSP violation by the dashboard itself (only the provoked one)');
    eq(problems.join('; '), '', 'no console error, no page error');
  } finally {
    await close();
  }
}

main().then(() => {
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail ? 1 : 0);
}, e => {
  console.log(`FAIL: ${e.stack || e}`);
  console.log(`${pass} passed, ${fail + 1} failed`);
  process.exit(1);
});
