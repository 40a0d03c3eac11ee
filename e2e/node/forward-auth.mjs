// forward-auth.mjs: headless Debian Chromium, driven by playwright-core, opens a protected app
// through a real reverse proxy (nginx auth_request or Caddy forward_auth) in front of
// Gatehouse's /forward-auth and an upstream that echoes the request headers it received as
// JSON. Every request carries a forged X-Auth-Request-User: admin, which the proxy must drop.
//
// Inputs (environment): E2E_ISSUER, E2E_USERNAME (in the app's group ops, not in admins),
// E2E_PASSWORD (every user's), FA_APP (the app's base URL through the proxy: require ops,
// /admin requires admins), FA_OTHER (a host the proxy serves that no protected app is on),
// FA_WIKI (an app with no requirement), FA_VAULT (an app with mfa: required), FA_ADMIN (a
// user in ops and admins, with no second factor yet), FA_OUTSIDER (a user in neither),
// FA_TOTP (a helper answering the current TOTP code of ?secret=, on Gatehouse's clock; &next=1
// moves that clock to the next time step first), E2E_CHROMIUM, SCREENSHOT_DIR.
// Exit status 0 on success; 1 with a message naming the failed step otherwise.

import { runScenario } from './chromium.mjs';

const app = process.env.FA_APP;
const other = process.env.FA_OTHER;
const wiki = process.env.FA_WIKI;
const vault = process.env.FA_VAULT;
const admin = process.env.FA_ADMIN;
const outsider = process.env.FA_OUTSIDER;
const totpHelper = process.env.FA_TOTP;

// totp asks the Go test for the current code of secret (next: of the next time step).
async function totp(secret, next) {
  const res = await fetch(`${totpHelper}/?secret=${encodeURIComponent(secret)}${next ? '&next=1' : ''}`);
  if (!res.ok) throw new Error(`TOTP helper: ${res.status} ${await res.text()}`);
  return res.text();
}

runScenario('forward-auth', { height: 768 }, async ({ issuer, username, password, context, page, shot, step, bodyText }) => {
  await context.setExtraHTTPHeaders({ 'X-Auth-Request-User': 'admin' });
  const original = `${app}/d/abc?orgId=1&from=now-6h`;
  const echo = async () => JSON.parse(await page.locator('body').innerText());

  await step('open the app: the proxy sends the browser to the login', async () => {
    await page.goto(original, { waitUntil: 'load' });
    if (!page.url().startsWith(issuer)) throw new Error(`expected the login at ${issuer}, at ${page.url()}: ${await bodyText()}`);
    await shot('login');
  });

  await step('sign in: back at the original URL with the identity headers', async () => {
    await page.getByLabel('Username', { exact: false }).fill(username);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(original);
    const e = await echo();
    const h = e.headers;
    if (e.path !== '/d/abc?orgId=1&from=now-6h') throw new Error(`upstream saw ${e.path}`);
    const user = h['X-Auth-Request-User'] || [];
    if (user.length !== 1 || user[0] === 'admin' || !user[0]) throw new Error(`X-Auth-Request-User ${JSON.stringify(user)}: the forged value was not replaced`);
    if ((h['X-Auth-Request-Preferred-Username'] || [])[0] !== username) throw new Error(`headers ${JSON.stringify(h)}`);
    if (!(h['X-Auth-Request-Groups'] || [''])[0].split(',').includes('ops')) throw new Error(`groups ${JSON.stringify(h)}`);
    await shot('app');
  });

  await step('a path of the admins group: 403 page saying why', async () => {
    const res = await page.goto(`${app}/admin/users`, { waitUntil: 'load' });
    const body = await bodyText();
    if (res.status() !== 403 || !body.includes('Access denied') || !body.includes('admins')) throw new Error(`got ${res.status()}: ${body}`);
    await shot('denied');
  });

  await step('a health check under the bypass: no identity, forged header dropped', async () => {
    // (sent empty or not at all, as each proxy does with the empty value Gatehouse answers)
    const res = await page.goto(`${app}/api/health`, { waitUntil: 'load' });
    const e = await echo();
    if (res.status() !== 200 || (e.headers['X-Auth-Request-User'] || [''])[0] !== '') throw new Error(`got ${res.status()}: ${JSON.stringify(e.headers)}`);
  });

  await step('an open redirect through the return URL is refused', async () => {
    for (const rd of ['http://evil.example/', `${app}@evil.example/`, '//evil.example/']) {
      const res = await page.goto(`${issuer}/forward-auth/start?rd=${encodeURIComponent(rd)}`, { waitUntil: 'load' });
      if (res.status() !== 400 || !page.url().startsWith(issuer)) throw new Error(`rd=${rd}: ${res.status()} at ${page.url()}`);
    }
  });

  await step('a host no app is on is refused', async () => {
    const res = await page.goto(`${other}/`, { waitUntil: 'load' });
    if (res.status() !== 403 || !page.url().startsWith(other)) throw new Error(`got ${res.status()} at ${page.url()}: ${await bodyText()}`);
  });

  await step('sign out at Gatehouse: the app asks for a login again', async () => {
    await page.goto(`${issuer}/logout`, { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForLoadState('load');
    await page.goto(original, { waitUntil: 'load' });
    if (!page.url().startsWith(issuer)) throw new Error(`after logout the app answered at ${page.url()}: ${await bodyText()}`);
  });
  // signIn fills the password form the browser is on, as user.
  const signIn = async (user) => {
    if (!page.url().startsWith(issuer)) throw new Error(`expected the login at ${issuer}, at ${page.url()}: ${await bodyText()}`);
    await page.getByLabel('Username', { exact: false }).fill(user);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  await step('group rule: a user outside the app\'s group gets the proxy\'s 403 page saying why', async () => {
    await context.clearCookies();
    await page.goto(`${wiki}/`, { waitUntil: 'load' }); // an app with no requirement: signed in
    await signIn(outsider);
    await page.waitForURL(`${wiki}/`);
    const res = await page.goto(original, { waitUntil: 'load' });
    const body = await bodyText();
    if (res.status() !== 403 || !page.url().startsWith(app) || !body.includes('Access denied') || !body.includes('ops')) {
      throw new Error(`${outsider} at the app: ${res.status()} at ${page.url()}: ${body}`);
    }
    await shot('group-denied');
  });

  await step('path rule: a user in the path\'s group reaches it', async () => {
    await context.clearCookies();
    await page.goto(`${app}/admin/users`, { waitUntil: 'load' });
    await signIn(admin);
    await page.waitForURL(`${app}/admin/users`);
    const e = await echo();
    if (e.path !== '/admin/users' || (e.headers['X-Auth-Request-Preferred-Username'] || [])[0] !== admin ||
        !(e.headers['X-Auth-Request-Groups'] || [''])[0].split(',').includes('admins')) {
      throw new Error(`upstream saw ${JSON.stringify(e)}`);
    }
  });

  let secret;
  await step('mfa: required: a password-only session enrols TOTP before the app is reached', async () => {
    // Signed in as the admin with a password only: the app needing a second factor sends
    // the browser to the MFA step (enrolment: no factor yet), never to the app.
    await page.goto(`${vault}/secrets?k=1`, { waitUntil: 'load' });
    if (!page.url().startsWith(`${issuer}/mfa`) || !(await bodyText()).includes('Set up two-step verification')) {
      throw new Error(`expected the TOTP enrolment at ${issuer}/mfa, at ${page.url()}: ${await bodyText()}`);
    }
    secret = (await page.locator('code[data-secret]').innerText()).trim();
    await page.locator('#code').fill('000000');
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.waitForLoadState('load');
    if (page.url().startsWith(vault) || !(await bodyText()).includes('did not work')) throw new Error(`a wrong code: at ${page.url()}: ${await bodyText()}`);
    await page.locator('#code').fill(await totp(secret, false));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('button', { name: 'I saved them, continue' }).click();
    await page.waitForURL(`${vault}/secrets?k=1`);
    const e = await echo();
    if ((e.headers['X-Auth-Request-Preferred-Username'] || [])[0] !== admin) throw new Error(`upstream saw ${JSON.stringify(e)}`);
    await shot('mfa-enrolled');
  });

  await step('mfa: required: after logout, the login asks for the TOTP code before the app', async () => {
    await page.goto(`${issuer}/logout`, { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForLoadState('load');
    await page.goto(`${vault}/`, { waitUntil: 'load' });
    await signIn(admin);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/mfa`));
    await page.locator('#code').fill('000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForLoadState('load');
    if (page.url().startsWith(vault)) throw new Error(`a wrong code reached the app at ${page.url()}`);
    await page.locator('#code').fill(await totp(secret, true));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${vault}/`);
    const e = await echo();
    if ((e.headers['X-Auth-Request-Preferred-Username'] || [])[0] !== admin) throw new Error(`upstream saw ${JSON.stringify(e)}`);
  });
  return 'forward auth through the proxy: login, headers, group rule, path rule, bypass, open redirect, unknown host, logout, mfa: required (enrolment, verification)';
});
