// One user's start of an environment in Debian's chromium, for tests/e2e/test_pull.py: signs
// in through the hub's own login form (the e2e stack's shared-password login), opens
// /hub/spawn?environment=..., and reads the spawn page's progress message every 100 ms
// until JupyterLab opens or the page says the start failed. A screenshot is taken of the
// first message that shows a pull in progress (MB arrived, not all), and of the end.
//
//   node pull.mjs <screenshot folder> <user> <environment>
//
// Environment: HUB_URL, HUB_PASSWORD, CHROMIUM. Prints one JSON object: the messages seen
// in order (or the error shown with the form, when the start failed at once), the last URL, the
// screenshots.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [shots, user, environment] = process.argv.slice(2);
const HUB = process.env.HUB_URL;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                        args: ['--no-sandbox'] });
const result = { messages: [], screenshots: {} };
const shot = async (page, name) => {
  const file = path.join(shots, `pull-${user}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots[name] = file;
};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${HUB}/hub/login`);
  await page.fill('#username_input', user);
  await page.fill('#password_input', process.env.HUB_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
  await page.goto(`${HUB}/hub/spawn/${user}?environment=${environment}`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (page.url().includes(`/user/${user}/`)) break;
    const [message, error] = await page.evaluate(() => {
      // The spawn form shown again with the error above it, or the hub's error page.
      const el = document.querySelector('#progress-message');
      const failed = document.querySelector('.spawn-error-msg') || document.querySelector('div.error');
      return [el ? el.innerText.trim() : null, failed ? failed.innerText.replace(/\s+/g, ' ').trim() : null];
    }).catch(() => [null, null]);  // the page is navigating
    // A start that fails at once gets the form again, with the error, instead of the progress bar.
    if (error) { result.errorPage = error; break; }
    if (message && message !== result.messages.at(-1)) {
      result.messages.push(message);
      const mb = message.match(/: ([\d.]+) of ([\d.]+) MB/);
      if (mb && !result.screenshots.pulling && Number(mb[1]) > 0 && Number(mb[1]) < Number(mb[2])) {
        await shot(page, 'pulling');
      }
      if (message.startsWith('Spawn failed')) break;
    }
    await page.waitForTimeout(100);
  }
  if (page.url().includes(`/user/${user}/`)) await page.waitForLoadState('load');
  result.url = page.url();
  await shot(page, 'end');
} catch (err) {
  result.error = String(err && err.stack || err);
  process.exitCode = 1;
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
}
