// chooser.mjs: headless Debian Chromium, driven by playwright-core, opens Gatehouse's connector
// chooser with several connectors, checks the buttons' accessible names and their order (the
// visual order, the DOM order and the keyboard focus order), chooses the local connector,
// then opens the chooser again and expects that connector first, marked "Last used", through a
// SameSite=Lax cookie that names it. Screenshots of every step go to SCREENSHOT_DIR.
//
// Inputs (environment): E2E_ISSUER, E2E_USERNAME, E2E_PASSWORD (unused here but required by
// chromium.mjs), E2E_AUTH_URL (an authorization request), E2E_WANT_LABELS (JSON array: the
// expected labels in order), E2E_LAST_LABEL (the label of the connector to choose).

import { runScenario } from './chromium.mjs';

const authURL = process.env.E2E_AUTH_URL;
const want = JSON.parse(process.env.E2E_WANT_LABELS || '[]');
const lastLabel = process.env.E2E_LAST_LABEL;

function same(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

runScenario('chooser', { height: 900 }, async ({ context, page, shot, step, log }) => {
  const labels = async () =>
    page.locator('ul.connectors a.button.provider').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  const visibleOrder = async () =>
    page.locator('ul.connectors a.button.provider').evaluateAll((els) =>
      els.map((e) => [e.getBoundingClientRect().top, e.textContent.trim()]).sort((a, b) => a[0] - b[0]).map((x) => x[1]),
    );

  await step('open the chooser', async () => {
    const res = await page.goto(authURL, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`authorization request answered ${res && res.status()}`);
    await shot('chooser');
  });

  await step('labels, icons and order', async () => {
    const got = await labels();
    if (!same(got, want)) throw new Error(`labels ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    const seen = await visibleOrder();
    if (!same(seen, want)) throw new Error(`visible order ${JSON.stringify(seen)}, want ${JSON.stringify(want)}`);
    for (const l of want) {
      const link = page.getByRole('link', { name: l, exact: true });
      if ((await link.count()) !== 1) throw new Error(`no link named "${l}" for assistive technology`);
      if ((await link.locator('svg[aria-hidden="true"]').count()) !== 1) throw new Error(`"${l}" has no hidden icon`);
      const box = await link.locator('svg').boundingBox();
      if (!box || box.width < 16 || box.height < 16) throw new Error(`"${l}" icon is not drawn (${JSON.stringify(box)})`);
    }
  });

  await step('keyboard focus follows the order', async () => {
    const focused = [];
    for (let i = 0; i < want.length + 3 && focused.length < want.length; i++) {
      await page.keyboard.press('Tab');
      const l = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('aria-label'));
      if (l) focused.push(l);
    }
    if (!same(focused, want)) throw new Error(`focus order ${JSON.stringify(focused)}, want ${JSON.stringify(want)}`);
    await shot('chooser-focus');
  });

  await step(`choose "${lastLabel}"`, async () => {
    await page.getByRole('link', { name: lastLabel, exact: true }).click();
    await page.waitForLoadState('load');
    await shot('after-choice');
    const cookies = await context.cookies();
    const c = cookies.find((x) => x.name.endsWith('gh_last_connector'));
    if (!c) throw new Error(`no last-connector cookie among ${cookies.map((x) => x.name).join(', ')}`);
    if (c.sameSite !== 'Lax' || !c.httpOnly) throw new Error(`cookie ${JSON.stringify(c)}: want SameSite=Lax, HttpOnly`);
    log(`cookie ${c.name}=${c.value}`);
  });

  await step('the chooser lists the last-used connector first', async () => {
    await page.goto(authURL, { waitUntil: 'load' });
    await shot('chooser-last-used');
    const got = await labels();
    const expect = [lastLabel, ...want.filter((l) => l !== lastLabel)];
    if (!same(got, expect)) throw new Error(`labels ${JSON.stringify(got)}, want ${JSON.stringify(expect)}`);
    const first = page.locator('ul.connectors a.button.provider').first();
    if (!(await first.innerText()).includes('Last used')) throw new Error('the first button is not marked "Last used"');
  });
  return `chooser labels, order, focus order and last-used first (${want.length} connectors)`;
});
