// forward-auth.mjs: headless Debian Chromium, driven by playwright-core, opens a protected app
// through a real reverse proxy (nginx auth_request or Caddy forward_auth) in front of
// Gatehouse's /forward-auth and an upstream that echoes the request headers it received as
// JSON. Every request carries a forged X-Auth-Request-User: admin, which the proxy must drop.
//
// Inputs (environment): E2E_ISSUER, E2E_USERNAME (in the app's group, not in admins),
// E2E_PASSWORD, FA_APP (the app's base URL through the proxy), FA_OTHER (a host the proxy
// serves that no protected app is on), E2E_CHROMIUM, SCREENSHOT_DIR.
// Exit status 0 on success; 1 with a message naming the failed step otherwise.

import { runScenario } from './chromium.mjs';

const app = process.env.FA_APP;
const other = process.env.FA_OTHER;

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
  return 'forward auth through the proxy: login, headers, path rule, bypass, open redirect, unknown host, logout';
});
