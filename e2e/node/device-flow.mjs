// device-flow.mjs: the device authorization grant (RFC 8628) end to end: an unmodified
// openid-client v6 as the device (initiateDeviceAuthorization + pollDeviceAuthorizationGrant)
// and headless Chromium as the user, who opens verification_uri_complete, signs in and
// allows (then, for a second device, denies) access.
//
// Environment: as chromium.mjs, plus E2E_DEVICE_CLIENT_ID (a public client allowed the
// device_code and refresh_token grants).

import * as client from 'openid-client';
import { runScenario, TIMEOUT } from './chromium.mjs';

const assert = (c, m) => { if (!c) throw new Error(m); };

runScenario('device-flow', { height: 768 }, async ({ issuer, username, password, page, shot, step, bodyText }) => {
  const config = await step('discovery advertises the device endpoint', async () => {
    const c = await client.discovery(new URL(issuer), process.env.E2E_DEVICE_CLIENT_ID, undefined, client.None(),
      { execute: [client.allowInsecureRequests] });
    const m = c.serverMetadata();
    assert(m.device_authorization_endpoint === `${issuer}/device/code`, `device_authorization_endpoint ${m.device_authorization_endpoint}`);
    assert(m.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'), `grant_types_supported ${m.grant_types_supported}`);
    return c;
  });

  // approveIn signs in at verification_uri_complete and presses the decision button.
  const approveIn = async (da, decision) => {
    const res = await page.goto(da.verification_uri_complete, { waitUntil: 'load' });
    assert(res && res.status() === 200, `GET verification_uri_complete: ${res && res.status()}`);
    const field = page.getByLabel('Code', { exact: false });
    assert((await field.inputValue()) === da.user_code, `the code field holds ${await field.inputValue()}, want ${da.user_code}`);
    await shot('device-code');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForLoadState('load');
    if (await page.getByLabel('Username', { exact: false }).count()) { // else the SSO session answers
      await page.getByLabel('Username', { exact: false }).fill(username);
      await page.getByLabel('Password', { exact: false }).fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForLoadState('load');
    }
    const button = page.getByRole('button', { name: decision });
    await button.waitFor({ state: 'visible', timeout: TIMEOUT });
    await shot(`consent-${decision}`);
    await button.click();
    await page.waitForLoadState('load');
    return bodyText();
  };

  const da = await step('device authorization request', async () => {
    const r = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
    assert(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(r.user_code), `user_code ${r.user_code}`);
    assert(r.verification_uri === `${issuer}/device` && r.interval === 5 && r.expires_in === 600, JSON.stringify(r));
    return r;
  });

  await step('polling too fast gets authorization_pending, then slow_down', async () => {
    const poll = () => fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code, client_id: process.env.E2E_DEVICE_CLIENT_ID }) })
      .then(async (res) => [res.status, (await res.json()).error]);
    const [s1, e1] = await poll();
    const [s2, e2] = await poll();
    assert(s1 === 400 && e1 === 'authorization_pending', `first poll ${s1} ${e1}`);
    assert(s2 === 400 && e2 === 'slow_down', `second poll ${s2} ${e2}`);
  });

  // openid-client polls on its own (obeying interval and slow_down) while the user approves.
  const polling = client.pollDeviceAuthorizationGrant(config, da);
  await step('the user approves in Chromium', async () => {
    const body = await approveIn(da, 'Allow');
    assert(body.includes('Device connected'), `after Allow: ${body.slice(0, 400)}`);
  });
  const tokens = await step('the device gets validated tokens', async () => {
    const t = await polling;
    assert(t.access_token && t.refresh_token && t.id_token, `tokens ${JSON.stringify(Object.keys(t))}`);
    const claims = t.claims();
    assert(claims.aud === process.env.E2E_DEVICE_CLIENT_ID && claims.sub, `ID token claims ${JSON.stringify(claims)}`);
    return t;
  });
  await step('the refresh token works (offline_access)', async () => {
    const t = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert(t.access_token && t.refresh_token !== tokens.refresh_token, 'refresh did not rotate');
  });

  await step('a device the user denies gets access_denied', async () => {
    const da2 = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const denied = client.pollDeviceAuthorizationGrant(config, da2).then(() => null, (err) => err);
    const body = await approveIn(da2, 'Deny');
    assert(body.includes('Access denied'), `after Deny: ${body.slice(0, 400)}`);
    const err = await denied;
    assert(err && err.error === 'access_denied', `poll after deny: ${err && (err.error || err.message)}`);
  });
  return 'the device flow completed in Chromium, and a denial reached the device';
});
