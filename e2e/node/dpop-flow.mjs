// dpop-flow.mjs: an unmodified strict openid-client v6 using DPoP (RFC 9449) against a live
// Gatehouse whose token endpoint requires server nonces: a public client's code flow with
// dpop_jkt, the bound tokens at userinfo, refresh with the key, and client_credentials for a
// client with dpop_bound_access_tokens; plus the refusals the RFC requires (a bound token as
// Bearer, a replayed proof, a proof for another URL or method, a refresh with another key, a
// bound client without a proof).
//
// Inputs (environment):
//   E2E_ISSUER                     issuer URL
//   E2E_PUBLIC_ID, E2E_REDIRECT_URI  a public client (authorization_code, refresh_token)
//   E2E_USERNAME, E2E_PASSWORD, E2E_EXPECTED_EMAIL  the user
//   E2E_SVC_ID, E2E_SVC_SECRET     a client_credentials client with dpop_bound_access_tokens
// Exit status 0 with PASS when every check passes.

import * as client from 'openid-client';
import { Agent, driveAuthorization } from './htmlflow.mjs';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`environment variable ${n} is required`);
  return v;
};
const log = (...a) => console.log('[dpop-flow]', ...a);
const assert = (c, m) => { if (!c) throw new Error(m); };
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

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

// refused runs fn and requires an OAuth error with the code (in the body or a challenge).
async function refused(fn, code) {
  try {
    await fn();
  } catch (err) {
    const got = err.error || err.cause?.error || err.cause?.[0]?.parameters?.error;
    assert(got === code, `want ${code}, got ${err.name}: ${err.message} (${got})`);
    return;
  }
  throw new Error(`want ${code}, the request succeeded`);
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a P-256 public key.
async function thumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  const canon = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canon))).toString('base64url');
}

const issuer = new URL(env('E2E_ISSUER'));
const redirectURI = env('E2E_REDIRECT_URI');

// Every request openid-client sends passes here, so the test can replay its proofs.
const sent = [];
const recordingFetch = (url, options) => {
  const dpop = new Headers(options?.headers).get('dpop');
  if (dpop) sent.push({ url: String(url), method: options.method || 'GET', dpop });
  return fetch(url, options);
};

const spa = await step('discovery (public client)', () =>
  client.discovery(issuer, env('E2E_PUBLIC_ID'), undefined, client.None(), { execute: [client.allowInsecureRequests] }));
spa[client.customFetch] = recordingFetch;
const meta = spa.serverMetadata();
await step('discovery advertises dpop_signing_alg_values_supported', () => {
  const algs = meta.dpop_signing_alg_values_supported || [];
  assert(algs.includes('ES256') && !algs.some((a) => a === 'none' || a.startsWith('HS')), `algs ${algs}`);
});

const keyPair = await client.randomDPoPKeyPair('ES256');
const jkt = await thumbprint(keyPair.publicKey);
const dpop = client.getDPoPHandle(spa, keyPair);

const tokens = await step('code flow with dpop_jkt and a DPoP proof (server nonce retried)', async () => {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(spa, {
    redirect_uri: redirectURI, scope: 'openid email offline_access', state, nonce, dpop_jkt: jkt,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const { url } = await driveAuthorization(new Agent({}), authURL, {
    stopAt: redirectURI, username: env('E2E_USERNAME'), password: env('E2E_PASSWORD'),
  });
  const t = await client.authorizationCodeGrant(spa, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce },
    undefined, { DPoP: dpop });
  assert(String(t.token_type).toLowerCase() === 'dpop', `token_type ${t.token_type}`);
  assert(claims(t.access_token).cnf?.jkt === jkt, `cnf ${JSON.stringify(claims(t.access_token).cnf)}, want jkt ${jkt}`);
  assert(t.refresh_token, 'no refresh token');
  return t;
});
const tokenProof = sent.find((s) => s.url.endsWith('/token'));
await step('the first proof got use_dpop_nonce; the retry carried the server nonce', () => {
  const proofs = sent.filter((s) => s.url.endsWith('/token')).map((s) => claims(s.dpop));
  assert(proofs.length === 2 && !proofs[0].nonce && proofs[1].nonce, `token proofs ${JSON.stringify(proofs)}`);
});

const sub = tokens.claims().sub;
await step('userinfo with the bound token and a proof', async () => {
  const u = await client.fetchUserInfo(spa, tokens.access_token, sub, { DPoP: dpop });
  assert(u.email === env('E2E_EXPECTED_EMAIL'), `email ${u.email}`);
});
const uiProof = sent.findLast((s) => s.url.endsWith('/userinfo'));
assert(uiProof, 'no proof was sent to userinfo');

// raw calls userinfo with the given Authorization and DPoP headers and returns the challenge.
async function raw(authz, proof) {
  const headers = { authorization: authz };
  if (proof) headers.dpop = proof;
  const res = await fetch(meta.userinfo_endpoint, { headers });
  return { status: res.status, challenge: res.headers.get('www-authenticate') || '' };
}
const refusedAt = async (name, authz, proof, code) => step(name, async () => {
  const r = await raw(authz, proof);
  assert(r.status === 401 && r.challenge.startsWith('DPoP ') && r.challenge.includes(`error="${code}"`),
    `got ${r.status} ${r.challenge}, want 401 DPoP error="${code}"`);
});
await refusedAt('userinfo refuses the bound token as Bearer', `Bearer ${tokens.access_token}`, undefined, 'invalid_token');
await refusedAt('userinfo refuses the DPoP scheme without a proof', `DPoP ${tokens.access_token}`, undefined, 'invalid_dpop_proof');
await refusedAt('userinfo refuses a replayed proof', `DPoP ${tokens.access_token}`, uiProof.dpop, 'invalid_dpop_proof');
await refusedAt('userinfo refuses a proof for another URL and method (the token endpoint\'s)', `DPoP ${tokens.access_token}`, tokenProof.dpop, 'invalid_dpop_proof');

await step('refresh with another key is refused', async () => {
  const other = client.getDPoPHandle(spa, await client.randomDPoPKeyPair('ES256'));
  await refused(() => client.refreshTokenGrant(spa, tokens.refresh_token, undefined, { DPoP: other }), 'invalid_grant');
});
const refreshed = await step('refresh with the key', async () => {
  const t = await client.refreshTokenGrant(spa, tokens.refresh_token, undefined, { DPoP: dpop });
  assert(String(t.token_type).toLowerCase() === 'dpop' && claims(t.access_token).cnf?.jkt === jkt, `refreshed ${JSON.stringify(t)}`);
  return t;
});
await step('userinfo with the refreshed token', async () => {
  await client.fetchUserInfo(spa, refreshed.access_token, sub, { DPoP: dpop });
});

const svc = await step('discovery (dpop_bound_access_tokens client)', () =>
  client.discovery(issuer, env('E2E_SVC_ID'), env('E2E_SVC_SECRET'), client.ClientSecretPost(), { execute: [client.allowInsecureRequests] }));
await step('client_credentials without a proof is refused', () =>
  refused(() => client.clientCredentialsGrant(svc), 'invalid_dpop_proof'));
await step('client_credentials with a proof', async () => {
  const kp = await client.randomDPoPKeyPair('ES256');
  const t = await client.clientCredentialsGrant(svc, undefined, { DPoP: client.getDPoPHandle(svc, kp) });
  assert(String(t.token_type).toLowerCase() === 'dpop' && claims(t.access_token).cnf?.jkt === await thumbprint(kp.publicKey),
    `response ${JSON.stringify(t)}`);
});

log('PASS');
