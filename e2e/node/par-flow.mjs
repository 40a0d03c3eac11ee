// par-flow.mjs: an unmodified strict openid-client v6 relying party using pushed authorization
// requests (RFC 9126), signed request objects (RFC 9101) and the claims parameter (OIDC Core
// 5.5) against a live Gatehouse; the login and consent pages are driven with plain HTTP by
// htmlflow.mjs.
//
// Inputs (environment):
//   E2E_ISSUER                   issuer URL
//   E2E_USERNAME, E2E_PASSWORD   a user of the local connector; E2E_EXPECTED_EMAIL its email
//   E2E_REDIRECT_URI             registered for both clients (nothing needs to listen there)
//   E2E_PAR_ID, E2E_PAR_SECRET   a client with require_pushed_authorization_requests
//   E2E_JAR_ID, E2E_JAR_KEY      a private_key_jwt client (jwks inline) and its private JWK
//   E2E_OTHER_KEY                a private JWK with the same kid that is not the client's
// Exit status 0 with PASS when every check passes.

import * as client from 'openid-client';
import { Agent, driveAuthorization, excerpt } from './htmlflow.mjs';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`environment variable ${n} is required`);
  return v;
};
const log = (...a) => console.log('[par-flow]', ...a);
const assert = (c, m) => { if (!c) throw new Error(m); };

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

const issuer = new URL(env('E2E_ISSUER'));
const redirectURI = env('E2E_REDIRECT_URI');
const username = env('E2E_USERNAME');
const password = env('E2E_PASSWORD');
const opts = { execute: [client.allowInsecureRequests] };

async function importKey(jwkText) {
  const jwk = JSON.parse(jwkText);
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return { key, kid: jwk.kid };
}

// authParams are fresh code-flow parameters (PKCE S256, state, nonce).
async function authParams(extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    redirect_uri: redirectURI, scope: 'openid email', state: client.randomState(), nonce: client.randomNonce(),
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  };
  return { params, verifier };
}

// codeFlow drives the authorization URL through login and consent and redeems the code.
async function codeFlow(config, agent, authURL, { params, verifier }) {
  const { url } = await driveAuthorization(agent, authURL, { stopAt: redirectURI, username, password, connectorID: 'local' });
  assert(!url.searchParams.has('error'), `authorization failed: ${url.href}`);
  const tokens = await client.authorizationCodeGrant(config, url, {
    pkceCodeVerifier: verifier, expectedState: params.state, expectedNonce: params.nonce, idTokenExpected: true,
  });
  return tokens.claims();
}

// refusedPage requests the authorization URL and wants Gatehouse's 400 error page (never a
// redirect to the client) mentioning want.
async function refusedPage(agent, authURL, want) {
  const res = await agent.request(authURL);
  assert(res.status === 400, `want a 400 error page, got ${res.status} ${res.location || ''}`);
  assert(excerpt(res.body, 2000).includes(want), `error page lacks "${want}": ${excerpt(res.body)}`);
}

// --- Discovery ---
const par = await step('discovery (client_secret_basic)', () =>
  client.discovery(issuer, env('E2E_PAR_ID'), env('E2E_PAR_SECRET'), client.ClientSecretBasic(env('E2E_PAR_SECRET')), opts));
await step('discovery advertises PAR, request objects and the claims parameter', () => {
  const m = par.serverMetadata();
  assert(m.pushed_authorization_request_endpoint === new URL('/par', issuer).href, `pushed_authorization_request_endpoint ${m.pushed_authorization_request_endpoint}`);
  assert(m.require_pushed_authorization_requests === false, 'require_pushed_authorization_requests should be false globally');
  assert(m.request_parameter_supported === true && m.request_uri_parameter_supported === false, 'request / request_uri support');
  assert(m.request_object_signing_alg_values_supported.includes('ES256'), 'ES256 request objects not advertised');
  assert(!m.request_object_signing_alg_values_supported.includes('none'), 'alg none advertised');
  assert(m.claims_parameter_supported === true, 'claims_parameter_supported');
});

// --- PAR: a client that must push ---
const agent = new Agent();
const a1 = await authParams({ claims: JSON.stringify({ id_token: { email: { essential: true } } }) });
const parURL = await step('buildAuthorizationUrlWithPAR (201, request_uri URN)', async () => {
  const u = await client.buildAuthorizationUrlWithPAR(par, a1.params);
  const uri = u.searchParams.get('request_uri');
  assert(uri && uri.startsWith('urn:ietf:params:oauth:request_uri:'), `request_uri ${uri}`);
  assert([...u.searchParams.keys()].sort().join(',') === 'client_id,request_uri', `authorization URL carries ${u.search}`);
  return u;
});
await step('pushed request: login, consent, code, validated ID token with the requested email', async () => {
  const c = await codeFlow(par, agent, parURL, a1);
  assert(c.email === env('E2E_EXPECTED_EMAIL'), `email ${c.email}`);
});
await step('the used request_uri is refused when replayed', () => refusedPage(new Agent(), parURL, 'already used'));
await step('a plain authorization request from the PAR client: invalid_request at the redirect URI', async () => {
  const { params } = await authParams();
  const res = await agent.request(client.buildAuthorizationUrl(par, params));
  const to = new URL(res.location);
  assert(res.status === 303 && to.href.startsWith(redirectURI), `got ${res.status} ${res.location}`);
  assert(to.searchParams.get('error') === 'invalid_request' && to.searchParams.get('state') === params.state, `got ${to.search}`);
});
await step('PAR without client authentication: invalid_client', async () => {
  const anon = await client.discovery(issuer, env('E2E_PAR_ID'), undefined, client.None(), opts);
  try {
    await client.buildAuthorizationUrlWithPAR(anon, (await authParams()).params);
  } catch (err) {
    let got = err.error || err.cause?.error;
    if (!got && err instanceof client.WWWAuthenticateChallengeError) got = (await err.response.json()).error;
    assert(got === 'invalid_client', `got ${err.name} ${got}`);
    return;
  }
  throw new Error('the push succeeded without client authentication');
});

// --- Request objects (JAR) from a private_key_jwt client ---
const jarKey = await importKey(env('E2E_JAR_KEY'));
const jar = await step('discovery (private_key_jwt)', () =>
  client.discovery(issuer, env('E2E_JAR_ID'), undefined, client.PrivateKeyJwt(jarKey), opts));
await step('buildAuthorizationUrlWithJAR: full code flow', async () => {
  const a = await authParams();
  const u = await client.buildAuthorizationUrlWithJAR(jar, a.params, jarKey);
  assert(u.searchParams.has('request') && !u.searchParams.has('redirect_uri'), `authorization URL ${u.search.slice(0, 120)}`);
  const c = await codeFlow(jar, agent, u, a);
  assert(c.sub && c.aud === env('E2E_JAR_ID'), `claims ${JSON.stringify(c)}`);
});
await step('a request object pushed with private_key_jwt: full code flow', async () => {
  const a = await authParams();
  const signed = await client.buildAuthorizationUrlWithJAR(jar, a.params, jarKey);
  const u = await client.buildAuthorizationUrlWithPAR(jar, signed.searchParams);
  assert(u.searchParams.has('request_uri'), `authorization URL ${u.search}`);
  await codeFlow(jar, agent, u, a);
});
await step('a request object signed by another key is refused', async () => {
  const a = await authParams();
  const u = await client.buildAuthorizationUrlWithJAR(jar, a.params, await importKey(env('E2E_OTHER_KEY')));
  await refusedPage(new Agent(), u, 'request object is not valid');
});

log('PASS');
