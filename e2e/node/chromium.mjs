// chromium.mjs: what every headless-Chromium scenario of the e2e tests shares: reading the
// E2E_* environment, launching Debian's Chromium through playwright-core with the flags that
// work on our machines (../../../shared/PEERS.md), collecting page errors and 5xx answers,
// numbered screenshots, named steps, cleanup, and the exit status the Go tests read.
//
// Environment: E2E_ISSUER, E2E_USERNAME, E2E_PASSWORD, E2E_CHROMIUM (default /usr/bin/chromium),
// SCREENSHOT_DIR (optional: a PNG of every step and of a failure).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TIMEOUT = 30_000;
export const FLAGS = [
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

// runScenario launches Chromium, calls scenario(t) and exits the process: 0 after PASS, 1 with
// the failed step's name. t has issuer, username, password, context, page, log, shot(name),
// step(name, fn) and bodyText().
export function runScenario(name, { height = 768 } = {}, scenario) {
  const log = (...a) => console.log(`[${name}]`, ...a);
  let currentStep = 'setup';
  const main = async () => {
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
      viewport: { width: 1024, height },
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
      const t = {
        issuer, username, password, context, page, log,
        shot: async (what) => {
          if (!shots) return;
          n++;
          await page.screenshot({ path: join(shots, `${String(n).padStart(2, '0')}-${what}.png`), fullPage: true });
        },
        step: async (what, fn) => {
          currentStep = what;
          const t0 = performance.now();
          const out = await fn();
          log(`ok   ${what} (${(performance.now() - t0).toFixed(0)} ms) at ${page.url()}`);
          return out;
        },
        bodyText: async () => (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 800),
      };
      const summary = await scenario(t);
      for (const p of problems) log(`warning: ${p}`);
      log(`PASS: ${summary}`);
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
  };
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(`[${name}] FAIL at step "${currentStep}": ${err && err.message ? err.message : err}`);
      process.exit(1);
    },
  );
}
