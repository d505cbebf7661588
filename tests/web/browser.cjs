// browser.cjs - Debian's chromium, headless, for the dashboard's test and bench.
// A fresh profile each time (removed by close()); no network but the loopback moltd
// the caller opens: no component updates, sync, QUIC or background requests.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function launch() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM}: not found (scripts/deps.sh installs chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'molt-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage', '--window-size=1400,1000', `--user-data-dir=${profile}`],
    defaultViewport: { width: 1400, height: 1000 },
  });
  const close = async () => {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

module.exports = { launch };
