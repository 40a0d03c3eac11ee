// claims-flow.mjs: an unmodified strict openid-client v6 relying party sending the claims
// request parameter (OIDC Core 5.5) in the authorization URL against a live Gatehouse; the
// login and consent pages are driven with plain HTTP by htmlflow.mjs.
//
// Inputs (environment):
//   E2E_ISSUER                   issuer URL
//   E2E_USERNAME, E2E_PASSWORD   a user of the local connector; E2E_EXPECTED_EMAIL and
//                                E2E_EXPECTED_NAME its email and name
//   E2E_REDIRECT_URI             registered for the client (nothing needs to listen there)
//   E2E_CLIENT_ID, E2E_SECRET    a client with claims.requestable [email, name]
// Exit status 0 with PASS when every check passes.

import * as client from 'openid-client';
import { Agent, driveAuthorization } from './htmlflow.mjs';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`environment variable ${n} is required`);
  return v;
};
const log = (...a) => console.log('[claims-flow]', ...a);
const assert = (c, m) => { if (!c) throw new Error(m); };

async function step(name, fn) {
  try {
    const r = await fn();
    log(`ok   ${name}`);
    return r;
  } catch (err) {
    log(`FAIL ${name}: ${err.name}: ${err.message} ${err.error || ''} ${err.error_description || ''}`);
    process.exit(1);
  }
}

const issuer = new URL(env('E2E_ISSUER'));
const redirectURI = env('E2E_REDIRECT_URI');
const username = env('E2E_USERNAME');
const password = env('E2E_PASSWORD');
const opts = { execute: [client.allowInsecureRequests] };
const config = await step('discovery', () =>
  client.discovery(issuer, env('E2E_CLIENT_ID'), env('E2E_SECRET'), client.ClientSecretBasic(env('E2E_SECRET')), opts));

// start builds an authorization URL with the claims parameter (scope without email or profile).
async function start(claims) {
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    redirect_uri: redirectURI, scope: 'openid offline_access', state: client.randomState(), nonce: client.randomNonce(),
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    claims: JSON.stringify(claims),
  };
  return { url: client.buildAuthorizationUrl(config, params), params, verifier };
}

const agent = new Agent();
const a = await start({ id_token: { email: { essential: true } }, userinfo: { name: null, groups: null } });
const tokens = await step('claims parameter: login, consent, code, ID token with email only', async () => {
  const { url } = await driveAuthorization(agent, a.url, { stopAt: redirectURI, username, password, connectorID: 'local' });
  assert(!url.searchParams.has('error'), `authorization failed: ${url.href}`);
  const t = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: a.verifier, expectedState: a.params.state, expectedNonce: a.params.nonce, idTokenExpected: true,
  });
  const c = t.claims();
  assert(c.email === env('E2E_EXPECTED_EMAIL'), `email ${c.email}`);
  assert(c.name === undefined && c.groups === undefined, `ID token has claims asked for at userinfo: ${JSON.stringify(c)}`);
  return t;
});
const sub = tokens.claims().sub;
await step('userinfo: name (asked for there), not email nor groups (not requestable)', async () => {
  const u = await client.fetchUserInfo(config, tokens.access_token, sub);
  assert(u.name === env('E2E_EXPECTED_NAME'), `name ${u.name}`);
  assert(u.email === undefined && u.groups === undefined, `userinfo ${JSON.stringify(u)}`);
});
await step('refresh keeps the requested claims', async () => {
  const t = await client.refreshTokenGrant(config, tokens.refresh_token);
  const c = t.claims();
  assert(c && c.email === env('E2E_EXPECTED_EMAIL') && c.name === undefined, `refreshed ID token ${JSON.stringify(c)}`);
  const u = await client.fetchUserInfo(config, t.access_token, sub);
  assert(u.name === env('E2E_EXPECTED_NAME') && u.email === undefined, `refreshed userinfo ${JSON.stringify(u)}`);
});
await step('sub value of the signed-in user: a code, prompt=none', async () => {
  const b = await start({ id_token: { sub: { value: sub } } });
  b.url.searchParams.set('prompt', 'none');
  const res = await agent.request(b.url);
  const to = new URL(res.location);
  assert(to.searchParams.has('code'), `got ${res.status} ${res.location}`);
});
await step('another sub value, prompt=none: login_required', async () => {
  const b = await start({ id_token: { sub: { value: 'someone-else', essential: true } } });
  b.url.searchParams.set('prompt', 'none');
  const res = await agent.request(b.url);
  const to = new URL(res.location);
  assert(to.searchParams.get('error') === 'login_required' && !to.searchParams.has('code'), `got ${res.status} ${res.location}`);
});
await step('another sub value, interactive: login again, then access_denied', async () => {
  const b = await start({ id_token: { sub: { values: ['someone-else', 'another'] } } });
  const { url } = await driveAuthorization(agent, b.url, { stopAt: redirectURI, username, password, connectorID: 'local' });
  assert(url.searchParams.get('error') === 'access_denied' && !url.searchParams.has('code'), `got ${url.href}`);
});

log('PASS');
