// machine-flow.mjs: an unmodified strict openid-client v6 acting as machine clients against a
// live Gatehouse: client_credentials with a secret and with private_key_jwt (RFC 7523), the
// assertion also at introspection and revocation, and the refusals the RFCs require.
//
// Inputs (environment):
//   E2E_ISSUER                 issuer URL
//   E2E_SVC_ID, E2E_SVC_SECRET a client_credentials client with a secret, allowed scopes
//                              "read write", audiences E2E_AUDIENCE (default) and E2E_AUDIENCE2
//   E2E_JWT_ID, E2E_JWT_KEY    a private_key_jwt client (keys at a jwks_uri) and its private
//                              key as a JWK (ES256, with kid)
//   E2E_RP_ID, E2E_RP_SECRET   a client with the default grant types
// Exit status 0 with PASS when every check passes.

import * as client from 'openid-client';

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`environment variable ${n} is required`);
  return v;
};
const log = (...a) => console.log('[machine-flow]', ...a);
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

// refused runs fn and requires an OAuth error with the code.
async function refused(fn, code) {
  try {
    await fn();
  } catch (err) {
    let got = err.error || err.cause?.error;
    if (!got && err instanceof client.WWWAuthenticateChallengeError) {
      // invalid_client comes with 401 and a challenge; the RFC 6749 5.2 body names the error.
      got = (await err.response.json()).error;
    }
    assert(got === code, `want ${code}, got ${err.name}: ${err.message} (${got})`);
    return;
  }
  throw new Error(`want ${code}, the request succeeded`);
}

const issuer = new URL(env('E2E_ISSUER'));
const opts = { execute: [client.allowInsecureRequests] };
const audience = env('E2E_AUDIENCE');
const audience2 = env('E2E_AUDIENCE2');

const svc = await step('discovery (client_secret_post)', () =>
  client.discovery(issuer, env('E2E_SVC_ID'), env('E2E_SVC_SECRET'), client.ClientSecretPost(), opts));
await step('discovery advertises client_credentials and private_key_jwt', () => {
  const m = svc.serverMetadata();
  assert(m.grant_types_supported.includes('client_credentials'), `grant_types_supported ${m.grant_types_supported}`);
  for (const k of ['token_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
    assert(m[k].includes('private_key_jwt'), `${k} ${m[k]}`);
  }
  assert(m.token_endpoint_auth_signing_alg_values_supported.includes('ES256'), 'ES256 not advertised');
});

await step('client_credentials: default scopes and audience', async () => {
  const t = await client.clientCredentialsGrant(svc);
  assert(t.token_type.toLowerCase() === 'bearer' && !t.refresh_token && !t.id_token, `response ${JSON.stringify(t)}`);
  const c = claims(t.access_token);
  assert(c.sub === env('E2E_SVC_ID') && c.client_id === env('E2E_SVC_ID'), `sub ${c.sub}`);
  assert(c.aud === audience && c.scope === 'read write', `aud ${c.aud} scope ${c.scope}`);
});
await step('client_credentials: narrower scope, second audience', async () => {
  const t = await client.clientCredentialsGrant(svc, { scope: 'read', audience: audience2 });
  const c = claims(t.access_token);
  assert(c.aud === audience2 && c.scope === 'read', `aud ${c.aud} scope ${c.scope}`);
});
await step('client_credentials: scope beyond the client is invalid_scope', () =>
  refused(() => client.clientCredentialsGrant(svc, { scope: 'read admin' }), 'invalid_scope'));
await step('client_credentials: foreign audience is invalid_target', () =>
  refused(() => client.clientCredentialsGrant(svc, { audience: 'https://evil.example' }), 'invalid_target'));

const rp = await step('discovery (browser client)', () =>
  client.discovery(issuer, env('E2E_RP_ID'), env('E2E_RP_SECRET'), client.ClientSecretBasic(), opts));
await step('a client without the grant gets unauthorized_client', () =>
  refused(() => client.clientCredentialsGrant(rp), 'unauthorized_client'));

const jwk = JSON.parse(env('E2E_JWT_KEY'));
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const pkj = (o) => client.discovery(issuer, env('E2E_JWT_ID'), undefined, client.PrivateKeyJwt({ key, kid: jwk.kid }, o), opts);
const jwtc = await step('discovery (private_key_jwt)', () => pkj());
const tok = await step('private_key_jwt: client_credentials', async () => {
  const t = await client.clientCredentialsGrant(jwtc);
  assert(claims(t.access_token).sub === env('E2E_JWT_ID'), 'sub');
  return t.access_token;
});
await step('private_key_jwt: introspection', async () => {
  const r = await client.tokenIntrospection(jwtc, tok);
  assert(r.active === true && r.client_id === env('E2E_JWT_ID'), JSON.stringify(r));
});
await step('private_key_jwt: revocation', () => client.tokenRevocation(jwtc, tok));

const fixed = `jti-${Date.now()}`;
const replay = await pkj({ [client.modifyAssertion]: (h, p) => { p.jti = fixed; } });
await step('private_key_jwt: a fixed jti is accepted once', () => client.clientCredentialsGrant(replay));
await step('private_key_jwt: the replayed jti is invalid_client', () =>
  refused(() => client.clientCredentialsGrant(replay), 'invalid_client'));
const wrongAud = await pkj({ [client.modifyAssertion]: (h, p) => { p.aud = issuer.href + 'userinfo'; } });
await step('private_key_jwt: wrong aud is invalid_client', () =>
  refused(() => client.clientCredentialsGrant(wrongAud), 'invalid_client'));
const expired = await pkj({ [client.modifyAssertion]: (h, p) => { p.exp = p.iat - 120; p.iat -= 180; p.nbf -= 180; } });
await step('private_key_jwt: an expired assertion is invalid_client', () =>
  refused(() => client.clientCredentialsGrant(expired), 'invalid_client'));
const longLived = await pkj({ [client.modifyAssertion]: (h, p) => { p.exp = p.iat + 3600; } });
await step('private_key_jwt: exp an hour ahead is invalid_client', () =>
  refused(() => client.clientCredentialsGrant(longLived), 'invalid_client'));
await step('private_key_jwt: a replayed jti at introspection is invalid_client', () =>
  refused(() => client.tokenIntrospection(replay, tok), 'invalid_client'));
console.log('PASS');
