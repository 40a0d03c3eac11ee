// webauthn.mjs: headless Debian Chromium with the DevTools virtual authenticator (WebAuthn
// domain) registers a security key at Gatehouse's MFA enrolment step and signs in with it
// again, through the built-in example relying party; the ID token's amr/acr must show the
// second factor and the authenticator's signature counter must grow.
//
// Inputs (environment):
//   E2E_ISSUER          issuer URL on localhost (WebAuthn needs a domain RP ID: localhost)
//   E2E_USERNAME, E2E_PASSWORD
//   E2E_CHROMIUM        browser executable (default /usr/bin/chromium)
//   SCREENSHOT_DIR      optional: a PNG of every step is written there
// Exit status 0 on success, printing PASS; 1 with a message naming the failed step otherwise.

import { runScenario, TIMEOUT } from './chromium.mjs';

runScenario('webauthn', { height: 900 }, async ({ issuer, username, password, context, page, shot, step, bodyText }) => {
  const cdp = await context.newCDPSession(page);
  const authenticatorId = await step('add a virtual security key (DevTools WebAuthn domain)', async () => {
    await cdp.send('WebAuthn.enable');
    const res = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    return res.authenticatorId;
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

  const signIn = async () => {
    const res = await page.goto(`${issuer}/example/`, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`GET ${issuer}/example/ returned ${res && res.status()}`);
    await page.getByRole('button', { name: /log in/i }).or(page.getByRole('link', { name: /log in/i })).first().click();
    await page.waitForLoadState('load');
    await page.getByLabel('Username', { exact: false }).fill(username);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  };

  const finishAtClaims = async () => {
    const allow = page.getByRole('button', { name: 'Allow' });
    const claims = page.locator('pre').first();
    await allow.or(claims).first().waitFor({ state: 'visible' });
    if (await allow.isVisible()) {
      await shot('consent');
      await allow.click();
      await page.waitForLoadState('load');
    }
    try {
      await claims.waitFor({ state: 'visible' });
      return JSON.parse(await claims.innerText());
    } catch (err) {
      throw new Error(`no ID token claims at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
  };

  const wantMFA = (claims, what) => {
    const amr = claims.amr || [];
    if (claims.acr !== 'urn:gatehouse:acr:mfa' || !amr.includes('mfa') || !amr.includes('hwk') || !amr.includes('pwd')) {
      throw new Error(`${what}: acr ${JSON.stringify(claims.acr)} amr ${JSON.stringify(amr)}; want urn:gatehouse:acr:mfa and pwd, hwk, mfa`);
    }
  };

  await step('sign in with the password: the enrolment page asks for a second factor', async () => {
    await signIn();
    try {
      await page.getByRole('heading', { name: /set up two-step verification/i }).waitFor({ state: 'visible' });
    } catch (err) {
      throw new Error(`no enrolment page at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
    if (!(await page.locator('img[src^="data:image/png;base64,"]').count())) throw new Error('the enrolment page shows no QR code image');
    await shot('enrol');
  });

  await step('register the security key', async () => {
    await page.getByLabel(/name for this key/i).fill('Virtual key');
    await page.getByRole('button', { name: /add a security key or passkey/i }).click();
    try {
      await page.getByRole('heading', { name: /save your recovery codes/i }).waitFor({ state: 'visible' });
    } catch (err) {
      throw new Error(`registration did not reach the recovery codes at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
    const codes = await page.locator('[data-recovery-codes] code').count();
    if (codes !== 10) throw new Error(`${codes} recovery codes shown, want 10`);
    const creds = await credentials();
    if (creds.length !== 1) throw new Error(`the authenticator holds ${creds.length} credentials, want 1`);
    if (creds[0].rpId !== new URL(issuer).hostname) throw new Error(`credential RP ID ${creds[0].rpId}`);
    await shot('codes');
    await page.getByRole('button', { name: /continue/i }).click();
    await page.waitForLoadState('load');
  });

  let counter = 0;
  await step('the example shows amr hwk + mfa and acr mfa', async () => {
    wantMFA(await finishAtClaims(), 'after registration');
    counter = (await credentials())[0].signCount;
    await shot('claims-1');
  });

  await step('the account page lists the key', async () => {
    await page.goto(`${issuer}/account`, { waitUntil: 'load' });
    const text = await page.locator('section#factors').innerText(); // the whole section: bodyText() is cut at 800 characters
    if (!text.includes('Virtual key') || !text.includes('Security key or passkey')) throw new Error(`account page's factors: ${text}`);
    await shot('account');
  });

  await step('sign out (clear cookies) and sign in again with the key', async () => {
    await context.clearCookies();
    await signIn();
    const button = page.getByRole('button', { name: /use your security key or passkey/i });
    try {
      await button.waitFor({ state: 'visible' });
    } catch (err) {
      throw new Error(`no security key prompt at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
    await shot('verify');
    await button.click();
    await page.waitForLoadState('load');
    wantMFA(await finishAtClaims(), 'after signing in with the key');
    await shot('claims-2');
  });

  await step('the signature counter grew', async () => {
    const now = (await credentials())[0].signCount;
    if (!(now > counter)) throw new Error(`sign count ${now}, was ${counter}`);
  });
  return 'WebAuthn registration and sign-in with a virtual authenticator';
});
