// exchange-flow.mjs: an unmodified strict openid-client v6 using token exchange (RFC 8693,
// genericGrantRequest) and resource indicators (RFC 8707) against a live Gatehouse.
//
// Inputs (environment):
//   E2E_ISSUER                   issuer URL
//   E2E_APP_ID, E2E_APP_SECRET   a browser client with client_credentials and token exchange:
//                                audiences api-b, api-c and E2E_MID_ID, delegation and
//                                impersonation; resources E2E_RES1 and E2E_RES2
//   E2E_REDIRECT_URI             a redirect URI registered for it (nothing listens there)
//   E2E_MID_ID, E2E_MID_SECRET   a service that may only delegate, for api-c
//   E2E_USERNAME, E2E_PASSWORD   a user of the local connector
// Exit status 0 with PASS when every check passes.

import * as client from 'openid-client';
import { Agent, driveAuthorization } from './htmlflow.mjs';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`environment variable ${n} is required`);
  return v;
};
const log = (...a) => console.log('[exchange-flow]', ...a);
const assert = (c, m) => { if (!c) throw new Error(m); };
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function step(name, fn) {
  const t0 = performance.now();
  try {
    const r = await fn();
    log(`ok   ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
    return r;
  } catch (err) {
    log(`FAIL ${name}: ${err.name}: ${err.message} ${err.error || ''} ${err.error_description || ''}`);
    process.exit(1);
  }
}

// refused runs fn and requires an OAuth error with the code.
async function refused(fn, code) {
  try {
    await fn();
  } catch (err) {
    const got = err.error || err.cause?.error;
    assert(got === code, `want ${code}, got ${err.name}: ${err.message} (${got} ${err.error_description || ''})`);
    return;
  }
  throw new Error(`want ${code}, the request succeeded`);
}

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const issuer = new URL(env('E2E_ISSUER'));
const opts = { execute: [client.allowInsecureRequests] };
const res1 = env('E2E_RES1');
const res2 = env('E2E_RES2');
const redirectURI = env('E2E_REDIRECT_URI');

const app = await step('discovery', () => client.discovery(issuer, env('E2E_APP_ID'), env('E2E_APP_SECRET'), undefined, opts));
const mid = await step('discovery (service)', () => client.discovery(issuer, env('E2E_MID_ID'), env('E2E_MID_SECRET'), undefined, opts));
await step('discovery advertises token exchange', () => {
  const g = app.serverMetadata().grant_types_supported;
  assert(g.includes(EXCHANGE), `grant_types_supported ${g}`);
});

// A login with two resource indicators (RFC 8707 2.1), then the code redeemed for one.
const agent = new Agent();
const verifier = client.randomPKCECodeVerifier();
const params = new URLSearchParams({
  redirect_uri: redirectURI, scope: 'openid profile offline_access', state: client.randomState(),
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
});
params.append('resource', res1);
params.append('resource', res2);
const authURL = client.buildAuthorizationUrl(app, params);
const { url: callback } = await step('authorize with two resources (login form, consent)', () =>
  driveAuthorization(agent, authURL, { stopAt: redirectURI, username: env('E2E_USERNAME'), password: env('E2E_PASSWORD'), connectorID: 'local' }));
const user = await step('authorizationCodeGrant with resource narrows aud to it', async () => {
  const t = await client.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: params.get('state'), idTokenExpected: true },
    { resource: res1 });
  assert(claims(t.access_token).aud === res1, `aud ${JSON.stringify(claims(t.access_token).aud)}`);
  assert(t.claims().aud === env('E2E_APP_ID'), 'the ID token is for the client');
  return t;
});
const sub = claims(user.access_token).sub;
let refresh = user.refresh_token;
await step('refreshTokenGrant without resource: every authorized resource', async () => {
  const t = await client.refreshTokenGrant(app, refresh);
  refresh = t.refresh_token;
  assert(same(claims(t.access_token).aud, [res1, res2]), `aud ${JSON.stringify(claims(t.access_token).aud)}`);
});
await step('refreshTokenGrant with a resource beyond the grant is invalid_target', () =>
  refused(() => client.refreshTokenGrant(app, refresh, { resource: 'https://elsewhere.example/' }), 'invalid_target'));
await step('clientCredentialsGrant with resource', async () => {
  const t = await client.clientCredentialsGrant(app, { resource: res2 });
  assert(claims(t.access_token).aud === res2, `aud ${claims(t.access_token).aud}`);
});
await step('clientCredentialsGrant with a resource not allowed is invalid_target', () =>
  refused(() => client.clientCredentialsGrant(app, { resource: 'https://elsewhere.example/' }), 'invalid_target'));

// Token exchange.
const actor = (await client.clientCredentialsGrant(app)).access_token;
await step('token exchange: impersonation for api-b', async () => {
  const t = await client.genericGrantRequest(app, EXCHANGE, { subject_token: user.access_token, subject_token_type: AT, audience: 'api-b' });
  const c = claims(t.access_token);
  assert(t.issued_token_type === AT && !t.refresh_token, `response ${JSON.stringify(t)}`);
  assert(c.sub === sub && c.aud === 'api-b' && c.act === undefined, `claims ${JSON.stringify(c)}`);
});
await step('token exchange: delegation carries act', async () => {
  const t = await client.genericGrantRequest(app, EXCHANGE, {
    subject_token: user.access_token, subject_token_type: AT, audience: 'api-c', actor_token: actor, actor_token_type: AT,
  });
  const c = claims(t.access_token);
  assert(c.sub === sub && c.aud === 'api-c' && same(c.act, { sub: env('E2E_APP_ID') }), `claims ${JSON.stringify(c)}`);
});
await step('token exchange: an ID token subject', async () => {
  const t = await client.genericGrantRequest(app, EXCHANGE, { subject_token: user.id_token, subject_token_type: IDT, audience: 'api-b' });
  assert(claims(t.access_token).sub === sub, 'sub');
});
const toMid = await step('token exchange: delegated to the service', async () => {
  const t = await client.genericGrantRequest(app, EXCHANGE, {
    subject_token: user.access_token, subject_token_type: AT, audience: env('E2E_MID_ID'), actor_token: actor, actor_token_type: AT,
  });
  return t.access_token;
});
await step('token exchange: the service delegates again, the earlier actor nested', async () => {
  const own = (await client.clientCredentialsGrant(mid)).access_token;
  const t = await client.genericGrantRequest(mid, EXCHANGE, { subject_token: toMid, subject_token_type: AT, actor_token: own, actor_token_type: AT });
  const c = claims(t.access_token);
  assert(c.sub === sub && c.aud === 'api-c' && same(c.act, { sub: env('E2E_MID_ID'), act: { sub: env('E2E_APP_ID') } }), `claims ${JSON.stringify(c)}`);
  const r = await client.tokenIntrospection(mid, t.access_token);
  assert(r.active === true, `introspection ${JSON.stringify(r)}`);
});
await step('token exchange: an audience the policy refuses is invalid_target', () =>
  refused(() => client.genericGrantRequest(app, EXCHANGE, { subject_token: user.access_token, subject_token_type: AT, audience: 'api-evil' }), 'invalid_target'));
await step('token exchange: impersonation by a delegation-only service is invalid_request', () =>
  refused(() => client.genericGrantRequest(mid, EXCHANGE, { subject_token: toMid, subject_token_type: AT }), 'invalid_request'));
await step('token exchange: an access token sent as an ID token is invalid_request', () =>
  refused(() => client.genericGrantRequest(app, EXCHANGE, { subject_token: user.access_token, subject_token_type: IDT }), 'invalid_request'));
await step('token exchange: after revocation the subject token is invalid_request', async () => {
  await client.tokenRevocation(app, refresh);
  await refused(() => client.genericGrantRequest(app, EXCHANGE, { subject_token: user.access_token, subject_token_type: AT }), 'invalid_request');
});
console.log('PASS');
