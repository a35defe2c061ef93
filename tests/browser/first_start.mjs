// A user's first start beside their next, as a person sees them in Debian's chromium, for
// benchmarks/first_start.py (which prepares each round and draws the figures).
//
//   node first_start.mjs
//
// Environment: HUB_URL, HUB_USER, HUB_PASSWORD (the e2e stack's shared-password login),
// ENVIRONMENT (the picker's choice), CHROMIUM. Signs in, then twice: the spawn page, a
// click on Start, until the browser is at JupyterLab's address and until JupyterLab is
// usable (its launcher or a document drawn), then stops the server. Prints one JSON
// object: per start the seconds from the click to each; nothing is asserted.
import { chromium } from 'playwright-core';

const HUB = process.env.HUB_URL;
const USER = process.env.HUB_USER;
const result = { user: USER, starts: [] };

// What a person takes for "JupyterLab is there": the launcher or an open document.
const USABLE = '.jp-Launcher, .jp-NotebookPanel, .jp-FileEditor';

async function hubApi(page, method, apiPath) {
  return page.evaluate(async ([url, method]) => {
    const r = await fetch(url, { method, headers: { 'X-XSRFToken': window.jhdata.xsrf_token } });
    return { status: r.status, body: r.status === 200 ? await r.json() : null };
  }, [`${HUB}/hub/api${apiPath}`, method]);
}

async function stop(page) {
  await page.goto(`${HUB}/hub/home`);
  await hubApi(page, 'DELETE', `/users/${USER}/server`);
  for (let i = 0; i < 300; i++) {
    const me = await hubApi(page, 'GET', `/users/${USER}`);
    if (!me.body.server && !(me.body.servers && me.body.servers[''] && me.body.servers[''].pending)) return;
    await page.waitForTimeout(200);
  }
  throw new Error(`${USER}'s server did not stop`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                        headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(180_000);
  await page.goto(`${HUB}/hub/login`);
  await page.fill('#username_input', USER);
  await page.fill('#password_input', process.env.HUB_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
  for (const kind of ['first start', 'later start']) {
    await page.goto(`${HUB}/hub/spawn`);
    await page.check(`#env-${process.env.ENVIRONMENT}`);
    const clicked = Date.now();
    await page.click('#spawn_form button[type=submit]');
    // Its address: as soon as the browser commits to it, before JupyterLab's page has loaded.
    await page.waitForURL(new RegExp(`/user/${USER}/lab`), { waitUntil: 'commit' });
    const address = (Date.now() - clicked) / 1000;
    await page.waitForSelector(USABLE, { state: 'visible' });
    const usable = (Date.now() - clicked) / 1000;
    result.starts.push({ kind, address, usable });
    await stop(page);
  }
} catch (err) {
  result.error = String(err && err.stack || err);
  process.exitCode = 1;
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
}
