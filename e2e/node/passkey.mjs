// passkey.mjs: headless Debian Chromium with the DevTools virtual authenticator (resident
// keys, user verification) enrols a passkey on Gatehouse's /account page after a password
// sign-in, signs out, and signs in again with the passkey alone (no username, no password),
// once through conditional UI (the username field's autofill) and once with the button,
// through the built-in example relying party; the ID token's amr/acr must show the passkey.
//
// Inputs (environment):
//   E2E_ISSUER          issuer URL on localhost (WebAuthn needs a domain RP ID: localhost)
//   E2E_USERNAME, E2E_PASSWORD
//   E2E_CHROMIUM        browser executable (default /usr/bin/chromium)
//   SCREENSHOT_DIR      optional: a PNG of every step is written there
// Exit status 0 on success, printing PASS; 1 with a message naming the failed step otherwise.

import { runScenario } from './chromium.mjs';

runScenario('passkey', { height: 900 }, async ({ issuer, username, password, context, page, shot, step, bodyText }) => {
  const cdp = await context.newCDPSession(page);
  const authenticatorId = await step('add a virtual platform authenticator with resident keys and user verification', async () => {
    await cdp.send('WebAuthn.enable');
    const res = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    return res.authenticatorId;
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;

  const startLogin = async () => {
    const res = await page.goto(`${issuer}/example/`, { waitUntil: 'load' });
    if (!res || res.status() !== 200) throw new Error(`GET ${issuer}/example/ returned ${res && res.status()}`);
    await page.getByRole('button', { name: /log in/i }).or(page.getByRole('link', { name: /log in/i })).first().click();
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

  let passwordSub = '';
  await step('sign in with the password', async () => {
    await startLogin();
    await shot('login');
    await page.getByLabel('Username', { exact: false }).fill(username);
    await page.getByLabel('Password', { exact: false }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState('load');
    const claims = await finishAtClaims();
    if (!(claims.amr || []).includes('pwd')) throw new Error(`password sign-in amr ${JSON.stringify(claims.amr)}`);
    passwordSub = claims.sub;
  });

  await step('enrol a passkey on /account', async () => {
    await page.goto(`${issuer}/account`, { waitUntil: 'load' });
    await shot('account-before');
    await page.getByLabel(/name for a new passkey/i).fill('Virtual passkey');
    await page.getByRole('button', { name: /add a passkey/i }).click();
    try {
      await page.getByRole('heading', { name: /save your recovery codes/i }).waitFor({ state: 'visible' });
    } catch (err) {
      throw new Error(`registration did not reach the recovery codes at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
    const creds = await credentials();
    if (creds.length !== 1) throw new Error(`the authenticator holds ${creds.length} credentials, want 1`);
    if (!creds[0].isResidentCredential) throw new Error('the passkey is not a resident (discoverable) credential');
    if (creds[0].rpId !== new URL(issuer).hostname) throw new Error(`credential RP ID ${creds[0].rpId}`);
    const handle = Buffer.from(creds[0].userHandle || '', 'base64').toString('utf8');
    if (!creds[0].userHandle || handle === username) throw new Error(`the user handle is the username: ${handle}`);
    await shot('codes');
    await page.getByRole('link', { name: /back to security settings/i }).click();
    await page.waitForLoadState('load');
    const text = await page.locator('body').innerText(); // the whole page: bodyText() is cut at 800 characters
    if (!text.includes('Virtual passkey')) throw new Error(`account page does not list the passkey: ${text}`);
    await shot('account-after');
  });

  const wantPasskey = (claims, what) => {
    const amr = claims.amr || [];
    if (!amr.includes('hwk') || !amr.includes('user') || !amr.includes('mfa') || amr.includes('pwd') || claims.acr !== 'phrh') {
      throw new Error(`${what}: acr ${JSON.stringify(claims.acr)} amr ${JSON.stringify(amr)}; want phrh and hwk, user, mfa without pwd`);
    }
    if (claims.sub !== passwordSub) throw new Error(`${what}: sub ${claims.sub}, password sub ${passwordSub}`);
  };

  let counter = 0;
  await step('sign out (clear cookies): the login page offers the passkey in the username autofill (conditional UI) and signs in with it', async () => {
    counter = (await credentials())[0].signCount;
    await context.clearCookies();
    await startLogin();
    // The virtual authenticator answers the conditional request the page makes at load (for
    // the username field's autocomplete="username webauthn") as a user picking the passkey
    // from the autofill would: nothing is clicked or typed, and the sign-in completes.
    wantPasskey(await finishAtClaims(), 'conditional UI sign-in');
    await shot('claims-conditional');
  });

  await step('sign out again: without conditional UI, the "Sign in with a passkey" button signs in', async () => {
    await page.addInitScript(() => {
      Object.defineProperty(window.PublicKeyCredential, 'isConditionalMediationAvailable', { value: undefined });
    });
    await context.clearCookies();
    await startLogin();
    const button = page.getByRole('button', { name: /sign in with a passkey/i });
    try {
      await button.waitFor({ state: 'visible' });
    } catch (err) {
      throw new Error(`no passkey button at ${page.url()}: ${await bodyText()}`, { cause: err });
    }
    await shot('login-passkey');
    await button.click();
    await page.waitForLoadState('load');
    wantPasskey(await finishAtClaims(), 'button sign-in');
    await shot('claims');
  });

  await step('the signature counter grew', async () => {
    const now = (await credentials())[0].signCount;
    if (!(now > counter)) throw new Error(`sign count ${now}, was ${counter}`);
  });
  return 'passkey enrolment on /account and sign-in with the passkey alone';
});
