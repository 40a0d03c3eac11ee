// browser-login.mjs: headless Debian Chromium, driven by playwright-core, clicks through
// Gatehouse's built-in example relying party, the real login page and the real consent page, and
// expects the example's result page to show the user's ID token claims.
//
// Inputs (environment):
//   E2E_ISSUER          issuer URL; the example RP is at E2E_ISSUER + "/example/"
//   E2E_USERNAME, E2E_PASSWORD
//   E2E_LOGIN_AS        optional: what to type in the username field (e.g. the email); default
//                       E2E_USERNAME, which the claims page must show either way
//   E2E_EXPECT_LABEL    optional: the username field's label must be exactly this text
//   E2E_CHROMIUM        browser executable (default /usr/bin/chromium)
//   SCREENSHOT_DIR      optional: a PNG of every step is written there
// Exit status 0 on success; 1 with a message naming the failed step otherwise.

import { runScenario, TIMEOUT } from './chromium.mjs';

runScenario('browser-login', { height: 768 }, async ({ issuer, username, password, context, page, shot, step, bodyText }) => {
  await step('open the example relying party', async () => {
    const res = await page.goto(`${issuer}/example/`, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`GET ${issuer}/example/ returned ${res && res.status()}`);
    await shot('example');
  });

  await step('click "Log in"', async () => {
    const button = page
      .getByRole('button', { name: /log in/i })
      .or(page.getByRole('link', { name: /log in/i }))
      .first();
    await button.click();
    await page.waitForLoadState('load');
  });

  await step('fill the login form and click "Sign in"', async () => {
    // A connector chooser comes first when several connectors are configured.
    const userField = page.getByLabel('Username', { exact: false });
    if (!(await userField.count())) {
      const local = page.getByRole('link', { name: /local|password/i }).or(page.getByRole('button', { name: /local|password/i })).first();
      if (await local.count()) {
        await local.click();
        await page.waitForLoadState('load');
      }
    }
    const expectLabel = process.env.E2E_EXPECT_LABEL;
    if (expectLabel) {
      const label = (await page.locator('label[for="username"]').innerText()).trim();
      if (label !== expectLabel) throw new Error(`the username field is labelled "${label}", want "${expectLabel}"`);
    }
    await page.getByLabel('Username', { exact: false }).fill(process.env.E2E_LOGIN_AS || username);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await shot('login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  });

  await step('click "Allow" on the consent page', async () => {
    const allow = page.getByRole('button', { name: 'Allow' });
    try {
      await allow.waitFor({ state: 'visible', timeout: TIMEOUT });
    } catch (err) {
      const body = (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 600);
      throw new Error(`no "Allow" button at ${page.url()}: ${body}`, { cause: err });
    }
    await shot('consent');
    await allow.click();
    await page.waitForLoadState('load');
  });

  await step('the example shows the ID token claims', async () => {
    try {
      await page.getByText(username, { exact: false }).first().waitFor({ state: 'visible', timeout: TIMEOUT });
    } catch (err) {
      const body = (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 800);
      throw new Error(`the page at ${page.url()} does not show "${username}": ${body}`, { cause: err });
    }
    const body = await page.locator('body').innerText();
    for (const want of ['preferred_username', 'sub']) {
      if (!body.includes(want)) throw new Error(`the claims page lacks "${want}": ${body.replace(/\s+/g, ' ').slice(0, 800)}`);
    }
    if (!new URL(page.url()).href.startsWith(issuer)) throw new Error(`ended at ${page.url()}, outside the issuer`);
    await shot('claims');
  });
  return 'Chromium logged in through the example relying party';
});
