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
  const locales = { en: 'Sign in', de: 'Anmelden', fr: 'Se connecter', es: 'Iniciar sesión', ja: 'サインイン', ar: 'تسجيل الدخول' };
  for (const [tag, heading] of Object.entries(locales)) {
    await step(`the sign-in page in ${tag} through the language switcher`, async () => {
      await page.goto(authURL, { waitUntil: 'load' });
      await page.locator(`nav.languages a[hreflang="${tag}"], nav.languages [aria-current][lang="${tag}"]`).first().click();
      await page.waitForLoadState('load');
      const got = await page.evaluate(() => [document.documentElement.lang, document.documentElement.dir, document.querySelector('h1').textContent]);
      const dir = tag === 'ar' ? 'rtl' : 'ltr';
      if (got[0] !== tag || got[1] !== dir || got[2] !== heading) throw new Error(`${tag}: lang, dir, h1 = ${JSON.stringify(got)}, want ${JSON.stringify([tag, dir, heading])}`);
      // Glyphs, not boxes: two different letters of the heading must not draw the same.
      const letters = [...new Set([...heading].filter((c) => c.charCodeAt(0) > 0x7f))].slice(0, 2);
      if (letters.length === 2) {
        const distinct = await page.evaluate(([a, b]) => {
          const draw = (ch) => {
            const c = document.createElement('canvas');
            c.width = c.height = 48;
            const x = c.getContext('2d');
            x.font = `32px ${getComputedStyle(document.body).fontFamily}`;
            x.fillText(ch, 4, 36);
            return c.toDataURL();
          };
          return draw(a) !== draw(b);
        }, letters);
        if (!distinct) throw new Error(`${tag}: "${letters.join('" and "')}" draw the same: a font for ${tag} is missing (scripts/install-peers.sh)`);
      }
      if (tag === 'ar') {
        const box = await page.locator('h1').boundingBox();
        const card = await page.locator('main.card').boundingBox();
        if (!box || !card || box.x + box.width < card.x + card.width - 40) throw new Error(`ar: the heading is not right-aligned (${JSON.stringify(box)} in ${JSON.stringify(card)})`);
      }
      await shot(`chooser-${tag}`);
    });
  }
  return `chooser labels, order, focus order, last-used first (${want.length} connectors) and the page in ${Object.keys(locales).length} languages`;
});
