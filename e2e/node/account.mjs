// account.mjs: headless Debian Chromium drives Gatehouse's account page (/account) as a local
// user would: sign in to two apps (allowing both), see both under "Apps with access", revoke
// one, sign in on a second browser profile, see two sessions and sign the second one out,
// change the password, then sign in with the new one (the old one refused). The page is
// checked and photographed in English and Arabic (dir=rtl).
//
// Inputs (environment): E2E_ISSUER, E2E_USERNAME, E2E_PASSWORD, E2E_NEW_PASSWORD,
// E2E_APPS (the test's relying party: /start/Wiki and /start/Chat begin a sign-in),
// E2E_CHROMIUM, SCREENSHOT_DIR (optional).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenario, FLAGS, TIMEOUT } from './chromium.mjs';

const apps = process.env.E2E_APPS;
const newPassword = process.env.E2E_NEW_PASSWORD;

runScenario('account', { height: 1100 }, async ({ issuer, username, password, page, shot, step, bodyText, log }) => {
  const account = `${issuer}/account`;

  // signIn fills the password form the page shows and submits it.
  const signIn = async (p, pw) => {
    await p.locator('input[name="username"]').fill(username);
    await p.locator('input[name="password"]').fill(pw);
    await p.locator('form button[type="submit"]').first().click();
    await p.waitForLoadState('load');
  };
  const expectHeading = async (p, text) => {
    const h1 = (await p.locator('h1').first().innerText()).trim();
    if (h1 !== text) throw new Error(`heading "${h1}" at ${p.url()}, want "${text}"`);
  };
  const sessions = (p) => p.locator('section#sessions li[data-session]');

  await step('sign in to Wiki and allow it', async () => {
    await page.goto(`${apps}/start/Wiki`, { waitUntil: 'load' });
    await signIn(page, password);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForLoadState('load');
    await expectHeading(page, 'Signed in to Wiki');
  });

  await step('sign in to Chat (single sign-on) and allow it', async () => {
    await page.goto(`${apps}/start/Chat`, { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForLoadState('load');
    await expectHeading(page, 'Signed in to Chat');
  });

  await step('the account page lists both apps', async () => {
    await page.goto(account, { waitUntil: 'load' });
    await expectHeading(page, 'Your account');
    for (const app of ['Wiki', 'Chat']) {
      const row = page.locator(`section#apps li[data-app="${app}"]`);
      if ((await row.count()) !== 1) throw new Error(`${app} is not under apps: ${await bodyText()}`);
      if (!(await row.innerText()).includes('Your email address')) throw new Error(`${app}'s row does not say what it sees`);
    }
    if ((await sessions(page).count()) !== 1) throw new Error(`sessions: ${await sessions(page).count()}, want 1`);
  });

  await step('revoke Wiki', async () => {
    await page.locator('section#apps li[data-app="Wiki"] button').click();
    await page.waitForLoadState('load');
    if (!(await bodyText()).includes('Access revoked')) throw new Error(`no notice: ${await bodyText()}`);
    if ((await page.locator('section#apps li[data-app="Wiki"]').count()) !== 0) throw new Error('Wiki is still listed');
    if ((await page.locator('section#apps li[data-app="Chat"]').count()) !== 1) throw new Error('Chat is gone');
  });

  // A second browser: its own profile, so its own cookies and its own session.
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-2-'));
  const second = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS, timeout: TIMEOUT,
    viewport: { width: 1024, height: 900 },
  });
  try {
    second.setDefaultTimeout(TIMEOUT);
    const other = second.pages()[0] ?? (await second.newPage());

    await step('the second browser opens /account, signs in and comes back', async () => {
      await other.goto(account, { waitUntil: 'load' });
      if (!other.url().includes('/login')) throw new Error(`not sent to the login: ${other.url()}`);
      await signIn(other, password);
      if (!other.url().startsWith(account)) throw new Error(`after the sign-in at ${other.url()}, want ${account}`);
      await expectHeading(other, 'Your account');
      if ((await sessions(other).count()) !== 2) throw new Error(`second browser sees ${await sessions(other).count()} sessions, want 2`);
    });

    await step('the first browser sees two sessions and signs the other out', async () => {
      await page.goto(account, { waitUntil: 'load' });
      if ((await sessions(page).count()) !== 2) throw new Error(`sessions: ${await sessions(page).count()}, want 2`);
      const mine = page.locator('section#sessions li[data-session]:has(strong)');
      if ((await mine.count()) !== 1 || !(await mine.innerText()).includes('This device')) throw new Error('this device is not marked');
      const devices = await page.locator('section#sessions li[data-session] .device').allInnerTexts();
      if (devices.length !== 2 || devices.some((d) => d !== 'Chrome · Linux')) throw new Error(`devices ${JSON.stringify(devices)}, want Chrome · Linux twice`);
      await shot('account-en');
      await page.locator('section#sessions li[data-session]:not(:has(strong)) button').click();
      await page.waitForLoadState('load');
      if (!(await bodyText()).includes('The session was signed out')) throw new Error(`no notice: ${await bodyText()}`);
      if ((await sessions(page).count()) !== 1) throw new Error(`sessions after: ${await sessions(page).count()}, want 1`);
    });

    await step('the second browser is signed out', async () => {
      await other.goto(account, { waitUntil: 'load' });
      if (!other.url().includes('/login')) throw new Error(`second browser still signed in: ${other.url()}`);
    });

    await step('change the password', async () => {
      await page.locator('#current').fill(password);
      await page.locator('#new').fill(newPassword);
      await page.locator('#confirm').fill(newPassword);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForLoadState('load');
      if (!(await bodyText()).includes('Your password was changed')) throw new Error(`no notice: ${await bodyText()}`);
    });

    await step('the old password is refused, the new one signs in', async () => {
      await other.goto(account, { waitUntil: 'load' });
      await signIn(other, password);
      if (!(await other.locator('body').innerText()).includes('wrong')) throw new Error(`the old password was not refused at ${other.url()}`);
      await signIn(other, newPassword);
      if (!other.url().startsWith(account)) throw new Error(`the new password did not sign in: ${other.url()}`);
      await expectHeading(other, 'Your account');
    });
  } finally {
    await second.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }

  await step('the account page in Arabic, right to left', async () => {
    await page.goto(account, { waitUntil: 'load' });
    await page.locator('nav.languages a[hreflang="ar"]').click();
    await page.waitForLoadState('load');
    const got = await page.evaluate(() => [document.documentElement.lang, document.documentElement.dir, document.querySelector('h1').textContent]);
    if (got[0] !== 'ar' || got[1] !== 'rtl' || got[2] !== 'حسابك') throw new Error(`lang, dir, h1 = ${JSON.stringify(got)}`);
    const box = await page.locator('h1').boundingBox();
    const card = await page.locator('main.card').boundingBox();
    if (!box || !card || box.x + box.width < card.x + card.width - 40) throw new Error('the heading is not right-aligned');
    await shot('account-ar');
    await page.locator('nav.languages a[hreflang="en"]').click();
    await page.waitForLoadState('load');
  });
  log('done');
  return 'two apps allowed, one revoked; two sessions, one signed out; password changed; en and ar';
});
