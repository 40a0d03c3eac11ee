// linking.mjs: headless Debian Chromium, driven by playwright-core, links an upstream OIDC login
// (npm oidc-provider, a real OpenID provider) to a local user from Gatehouse's account page,
// then signs in through the upstream alone and expects the same sub as the local login.
//
// Inputs (environment):
//   E2E_ISSUER          issuer URL; the example RP is at E2E_ISSUER + "/example/"
//   E2E_USERNAME, E2E_PASSWORD   the local user
//   E2E_UPSTREAM_NAME   the upstream connector's name ("Upstream")
//   E2E_UPSTREAM_USER, E2E_UPSTREAM_PASSWORD   the account at the upstream provider
//   E2E_CHROMIUM        browser executable (default /usr/bin/chromium)
//   SCREENSHOT_DIR      optional: a PNG of every step is written there
// Exit status 0 on success, printing PASS and "sub=<sub>"; 1 naming the failed step otherwise.

import { runScenario, TIMEOUT } from './chromium.mjs';

const upstreamName = process.env.E2E_UPSTREAM_NAME;
const upstreamUser = process.env.E2E_UPSTREAM_USER;
const upstreamPassword = process.env.E2E_UPSTREAM_PASSWORD;

runScenario('linking', { height: 900 }, async ({ issuer, username, password, context, page, shot, step, bodyText, log }) => {
  // signIn starts at the example RP, picks the connector on the chooser, lets login(page) sign
  // in there, allows consent where asked, and returns the ID token's sub.
  const signIn = async (connector, login) => {
    const res = await page.goto(`${issuer}/example/`, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`GET ${issuer}/example/ returned ${res && res.status()}`);
    await page.getByRole('button', { name: /log in/i }).or(page.getByRole('link', { name: /log in/i })).first().click();
    await page.waitForLoadState('load');
    await page.getByRole('link', { name: `Sign in with ${connector}`, exact: true }).click();
    await page.waitForLoadState('load');
    await login();
    const allow = page.getByRole('button', { name: 'Allow' });
    const claims = page.locator('pre').first();
    await allow.or(claims).first().waitFor({ state: 'visible', timeout: TIMEOUT });
    if (await allow.isVisible()) {
      await allow.click();
      await page.waitForLoadState('load');
    }
    try {
      await claims.waitFor({ state: 'visible', timeout: TIMEOUT });
      const sub = JSON.parse(await claims.innerText()).sub;
      if (!sub) throw new Error('no sub');
      return sub;
    } catch (err) {
      throw new Error(`no ID token claims at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
  };
  const localLogin = async () => {
    await page.getByLabel('Username', { exact: false }).fill(username);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  };
  // upstreamLogin signs in at oidc-provider's interaction pages (login, then its consent).
  const upstreamLogin = async () => {
    await page.locator('input[name="login"]').fill(upstreamUser);
    await page.locator('input[name="password"]').fill(upstreamPassword);
    await shot('upstream-login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
    const allowUpstream = page.locator('input[name="consent"]');
    if (await allowUpstream.count()) {
      await page.getByRole('button', { name: 'Allow' }).first().click();
      await page.waitForLoadState('load');
    }
  };

  const localSub = await step('sign in with the local password', async () => signIn('Local', localLogin));
  log(`local sub ${localSub}`);

  await step('the account page offers to link the upstream', async () => {
    await page.goto(`${issuer}/account`, { waitUntil: 'load' });
    await shot('account-before');
    const heading = page.getByRole('heading', { name: 'Ways to sign in' });
    if (!(await heading.count())) throw new Error(`no "Ways to sign in" section: ${await bodyText()}`);
    if (await page.getByRole('button', { name: /^Remove/ }).count()) throw new Error('the only login offers Remove');
  });

  await step(`link ${upstreamName} by signing in there`, async () => {
    await page.getByRole('button', { name: `Link ${upstreamName}`, exact: true }).click();
    await page.waitForLoadState('load');
    if (!page.url().includes('/interaction/')) throw new Error(`not at the upstream's login: ${page.url()} ${await bodyText()}`);
    await upstreamLogin();
    if (!page.url().startsWith(`${issuer}/account`)) throw new Error(`did not come back to the account page: ${page.url()} ${await bodyText()}`);
    const body = await page.locator('section#logins').innerText(); // the whole section: bodyText() is cut at 800 characters
    if (!body.includes('The new sign-in method is linked')) throw new Error(`no "linked" notice: ${body}`);
    if ((await page.locator('li[data-login]').count()) !== 2) throw new Error(`want 2 logins listed: ${body}`);
    if ((await page.getByRole('button', { name: `Remove ${upstreamName}`, exact: true }).count()) !== 1) throw new Error('no accessible Remove button for the linked login');
    await shot('account-linked');
  });

  const upstreamSub = await step(`sign in through ${upstreamName} alone, in a fresh browser state`, async () => {
    await context.clearCookies();
    return signIn(upstreamName, upstreamLogin);
  });
  await shot('claims-upstream');
  if (upstreamSub !== localSub) throw new Error(`sign-in through ${upstreamName} gave sub ${upstreamSub}, the local one ${localSub}`);
  log(`sub=${upstreamSub}`);
  return `linked ${upstreamName} (${upstreamUser}) to ${username}; both sign in as sub ${localSub}`;
});
