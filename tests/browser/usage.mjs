// The admins' usage page in Debian's chromium, for tests/e2e/test_usage.py: signs in
// through the hub's own login form (the e2e stack's shared-password login), opens
// /hub/usage and takes a screenshot.
//
//   node usage.mjs <screenshot file>
//
// Environment: HUB_URL, HUB_USER, HUB_PASSWORD, CHROMIUM. Prints one JSON object: the
// table's rows ({user, disk, memory, cpu}), the stale-volume line and the screenshot.
import { chromium } from 'playwright-core';

const [file] = process.argv.slice(2);
const HUB = process.env.HUB_URL;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                        args: ['--no-sandbox'] });
const result = { screenshot: file };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${HUB}/hub/login`);
  await page.fill('#username_input', process.env.HUB_USER);
  await page.fill('#password_input', process.env.HUB_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
  // The first visit may find the figures still being measured: reload until the table is there.
  for (let i = 0; i < 60; i++) {
    await page.goto(`${HUB}/hub/usage`);
    if (await page.$('#usage-table')) break;
    await page.waitForTimeout(2000);
  }
  result.rows = await page.$$eval('tr.usage-row', trs => trs.map(tr => {
    const td = [...tr.querySelectorAll('td')].map(c => c.innerText.trim());
    return { user: tr.dataset.user, disk: td[3], memory: td[4], cpu: td[5], memory_kills: td[6] };
  }));
  result.stale = (await page.innerText('#stale-image-volumes')).replace(/\s+/g, ' ').trim();
  result.nav = await page.$('#usage-link') !== null;
  await page.screenshot({ path: file, fullPage: true });
} catch (err) {
  result.error = String(err);
  process.exitCode = 1;
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
}
