// browser-login.mjs: headless Debian Chromium, driven by playwright-core, clicks through
// Gatehouse's built-in example relying party, the real login page and the real consent page, and
// expects the example's result page to show the user's ID token claims.
//
// Inputs (environment):
//   E2E_ISSUER          issuer URL; the example RP is at E2E_ISSUER + "/example/"
//   E2E_USERNAME, E2E_PASSWORD
//   E2E_CHROMIUM        browser executable (default /usr/bin/chromium)
//   SCREENSHOT_DIR      optional: a PNG of every step is written there
// Exit status 0 on success; 1 with a message naming the failed step otherwise.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIMEOUT = 30_000;
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`environment variable ${name} is required`);
  }
  return v;
}

const log = (...a) => console.log('[browser-login]', ...a);
let currentStep = 'setup';

async function main() {
  const issuer = env('E2E_ISSUER').replace(/\/+$/, '');
  const username = env('E2E_USERNAME');
  const password = env('E2E_PASSWORD');
  const executablePath = env('E2E_CHROMIUM', '/usr/bin/chromium');
  const shots = process.env.SCREENSHOT_DIR || '';
  if (shots) mkdirSync(shots, { recursive: true });

  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: FLAGS,
    timeout: TIMEOUT,
    viewport: { width: 1024, height: 768 },
  });
  const problems = [];
  let page;
  try {
    context.setDefaultTimeout(TIMEOUT);
    context.setDefaultNavigationTimeout(TIMEOUT);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error on ${page.url()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
    page.on('response', (res) => {
      if (res.status() >= 500) problems.push(`HTTP ${res.status()} for ${res.url()}`);
    });

    let n = 0;
    const shot = async (name) => {
      if (!shots) return;
      n++;
      await page.screenshot({ path: join(shots, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
    };
    const step = async (name, fn) => {
      currentStep = name;
      const t0 = performance.now();
      await fn();
      log(`ok   ${name} (${(performance.now() - t0).toFixed(0)} ms) at ${page.url()}`);
    };

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
      await page.getByLabel('Username', { exact: false }).fill(username);
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

    for (const p of problems) log(`warning: ${p}`);
    log('PASS: Chromium logged in through the example relying party');
  } catch (err) {
    for (const p of problems) log(`warning: ${p}`);
    if (page && shots) {
      await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    }
    throw err;
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[browser-login] FAIL at step "${currentStep}": ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
