import { chromium } from 'playwright-core';
const H = 'http://127.0.0.1:18721';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const who = process.argv[2], what = process.argv[3];
await page.goto(`${H}/hub/login`);
await page.fill('#username_input', who); await page.fill('#password_input', 'pw');
await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
if (what === 'stop') {
  await page.goto(`${H}/hub/home`);
  await page.screenshot({ path: '/tmp/local21/home-running.png' });
  await page.click('#stop');
  await page.waitForTimeout(300);
  console.log('during:', await page.$eval('#pyiron-home', (e) => e.innerText));
  await page.screenshot({ path: '/tmp/local21/home-stopping.png' });
  await page.waitForSelector('#server-stopped:not([hidden])', { timeout: 30000 });
  console.log('after:', await page.$eval('#pyiron-home', (e) => e.innerText));
  await page.screenshot({ path: '/tmp/local21/home-stopped.png' });
} else {
  await page.goto(`${H}${what}`);
  await page.screenshot({ path: `/tmp/local21/page.png`, fullPage: true });
  console.log(await page.$eval('body', (e) => e.innerText));
}
await browser.close();
