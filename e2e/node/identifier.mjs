// identifier.mjs: headless Debian Chromium, driven by playwright-core, through Gatehouse's
// identifier-first sign-in (login.identifier_first) with home-realm discovery:
//   1. a malformed identifier gets the form back with a message;
//   2. a routed provider that is down (supplier.example) is named above the other ways;
//   3. a local user: "alice" routes nowhere (no cookie) so the list; Local; the password step
//      keeps the identifier; consent; a code at the client;
//   4. the next sign-in: "mallory" (unknown) gets the password step straight away (the last
//      used connector), the same step as alice's, and fails at the password;
//   5. an LDAP user: lee@corp.example goes to the LDAP connector's password step; a code;
//   6. a domain-routed OIDC upstream: carol@partner.example goes straight to the provider
//      with login_hint; its login form; back to Gatehouse; a code.
// Screenshots of every step go to SCREENSHOT_DIR.
//
// Inputs (environment): E2E_ISSUER, E2E_USERNAME, E2E_PASSWORD (the local user), E2E_AUTH_URL
// (an authorization request), E2E_REDIRECT_URI (the client's), E2E_LDAP_USER,
// E2E_LDAP_PASSWORD, E2E_UPSTREAM (the provider's issuer), E2E_UPSTREAM_USER,
// E2E_UPSTREAM_PASSWORD.

import { runScenario } from './chromium.mjs';

const authURL = process.env.E2E_AUTH_URL;
const redirectURI = process.env.E2E_REDIRECT_URI;
const upstream = process.env.E2E_UPSTREAM.replace(/\/+$/, '');

runScenario('identifier-first', { height: 720 }, async ({ issuer, context, page, shot, step, log, username, password }) => {
  const upstreamRequests = [];
  page.on('request', (req) => {
    if (req.url().startsWith(upstream)) upstreamRequests.push(req.url());
  });

  // signOut forgets the SSO session but keeps the last-used connector cookie.
  const signOut = async () => {
    const keep = (await context.cookies()).filter((c) => c.name.endsWith('gh_last_connector'));
    await context.clearCookies();
    if (keep.length) await context.addCookies(keep);
  };
  const identify = async (identifier, name) => {
    await page.goto(authURL, { waitUntil: 'load' });
    const field = page.locator('#identifier');
    await field.waitFor({ state: 'visible' });
    await field.fill(identifier);
    await shot(name);
    await page.locator('form.identifier-first button[type=submit]').click();
    await page.waitForLoadState('load');
  };
  // finishAfter does act (the submit that ends a login), allows consent when asked, and
  // waits for the code at the client.
  const finishAfter = async (what, act) => {
    const atClient = page.waitForRequest((r) => r.url().startsWith(redirectURI), { timeout: 30_000 });
    await act();
    const consent = page.locator('button[value="allow"]').waitFor({ state: 'visible', timeout: 30_000 }).then(() => 'consent', () => 'none');
    if ((await Promise.race([atClient.then(() => 'client'), consent])) === 'consent') {
      await shot(`${what}-consent`);
      await page.locator('button[value="allow"]').click();
    }
    const req = await atClient;
    const u = new URL(req.url());
    if (!u.searchParams.get('code') || u.searchParams.get('state') !== 'e2e-state') throw new Error(`${what}: no code at the client: ${req.url()}`);
    log(`${what}: code at the client`);
    // No client listens: let Chromium's error page commit before the next navigation.
    await page.waitForURL((x) => !x.href.startsWith(issuer), { waitUntil: 'commit' }).catch(() => {});
  };
  const passwordStep = async (identifier) => {
    const user = page.locator('#username');
    await user.waitFor({ state: 'visible' });
    if ((await user.inputValue()) !== identifier || !(await user.getAttribute('readonly') !== null)) {
      throw new Error(`the password step does not keep "${identifier}" read-only: ${await user.inputValue()}`);
    }
    if ((await page.getByRole('link', { name: 'Not you?' }).count()) !== 1) throw new Error('no "Not you?" link');
  };

  await step('a malformed identifier gets the form back', async () => {
    await identify('bob@', 'identifier-malformed-typed');
    const alert = page.getByRole('alert');
    if (!(await alert.innerText()).includes('does not look like an email or username')) throw new Error(`message: ${await alert.innerText()}`);
    if ((await page.locator('#identifier').count()) !== 1) throw new Error('the form is not shown again');
    await shot('identifier-malformed');
  });

  await step('a routed provider that is down is named, the others offered', async () => {
    await identify('sam@supplier.example', 'identifier-down-typed');
    const alert = page.getByRole('alert');
    if (!(await alert.innerText()).includes('Supplier SSO is unavailable right now')) throw new Error(`message: ${await alert.innerText()}`);
    for (const name of ['Sign in with Local', 'Sign in with Corp directory', 'Sign in with Partner portal']) {
      if ((await page.getByRole('link', { name, exact: true }).count()) !== 1) throw new Error(`"${name}" not offered`);
    }
    await shot('identifier-provider-down');
  });

  await step('a local user: the list, then the password step with the identifier kept', async () => {
    await signOut();
    await identify(username, 'identifier-local-typed');
    await page.getByRole('link', { name: 'Sign in with Local', exact: true }).click();
    await page.waitForLoadState('load');
    await passwordStep(username);
    await page.locator('#password').fill(password);
    await shot('identifier-local-password');
    await finishAfter('local', () => page.locator('form.identifier-first button[type=submit]').click());
  });

  await step('an unknown user gets the same password step and fails at the password', async () => {
    await signOut();
    await identify('mallory', 'identifier-unknown-typed');
    await passwordStep('mallory');
    await page.locator('#password').fill('not-the-password');
    await page.locator('form.identifier-first button[type=submit]').click();
    await page.waitForLoadState('load');
    const alert = page.getByRole('alert');
    if (!(await alert.innerText()).includes('The username or password is wrong')) throw new Error(`message: ${await alert.innerText()}`);
    await passwordStep('mallory');
    await shot('identifier-unknown-failed');
  });

  await step('an LDAP user is routed by domain to the directory\'s password step', async () => {
    await signOut();
    await identify(process.env.E2E_LDAP_USER, 'identifier-ldap-typed');
    await passwordStep(process.env.E2E_LDAP_USER);
    if (!(await page.locator('p.lead').innerText()).includes('Corp directory')) throw new Error('the password step does not name the directory');
    await page.locator('#password').fill(process.env.E2E_LDAP_PASSWORD);
    await shot('identifier-ldap-password');
    await finishAfter('ldap', () => page.locator('form.identifier-first button[type=submit]').click());
  });

  await step('a partner is routed by domain to its OIDC provider with login_hint', async () => {
    await signOut();
    upstreamRequests.length = 0;
    await identify('carol@partner.example', 'identifier-oidc-typed');
    await page.locator('input[name=login]').waitFor({ state: 'visible' });
    const auth = upstreamRequests.find((u) => new URL(u).searchParams.has('client_id'));
    if (!auth || new URL(auth).searchParams.get('login_hint') !== 'carol@partner.example') {
      throw new Error(`the provider's authorization request has no login_hint: ${auth}`);
    }
    await shot('identifier-oidc-upstream');
    await page.locator('input[name=login]').fill(process.env.E2E_UPSTREAM_USER);
    await page.locator('input[name=password]').fill(process.env.E2E_UPSTREAM_PASSWORD);
    await finishAfter('oidc', async () => {
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).first().waitFor({ state: 'visible' });
      if (page.url().startsWith(upstream)) { // the provider's own consent
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForURL((u) => !u.href.startsWith(upstream));
      }
    });
  });
  return 'identifier-first: malformed input, a provider down, local (list, last used, unknown user), LDAP and OIDC by domain';
});
