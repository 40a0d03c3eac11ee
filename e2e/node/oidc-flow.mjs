// oidc-flow.mjs: an unmodified, strict openid-client v6 relying party run against a live Gatehouse.
//
// It discovers the issuer, runs the authorization code flow with PKCE S256, state and nonce
// (driving Gatehouse's HTML login and consent pages with plain HTTP, see htmlflow.mjs), exchanges
// the code, validates the ID token, calls userinfo, rotates the refresh token, checks that reuse
// of a rotated refresh token revokes its whole family, revokes a fresh login's tokens, and ends
// the session through RP-initiated logout.
//
// Inputs (environment):
//   E2E_ISSUER                    issuer URL, e.g. http://127.0.0.1:5556
//   E2E_CLIENT_ID, E2E_CLIENT_SECRET
//   E2E_REDIRECT_URI              registered redirect URI (nothing needs to listen there)
//   E2E_POST_LOGOUT_REDIRECT_URI  registered post-logout redirect URI
//   E2E_USERNAME, E2E_PASSWORD    a user of the local connector
//   E2E_EXPECTED_EMAIL            that user's email
//   E2E_EXPECTED_GROUP            optional: a group the user belongs to
//   E2E_CONNECTOR_ID              connector to pick on a chooser page (default "local")
//   E2E_CLIENT_AUTH               "post" (openid-client's default) or "basic"
// Exit status 0 when every check passes; 1 with a message naming the failed step otherwise.

import * as client from 'openid-client';
import { Agent, driveAuthorization, parseForms, excerpt } from './htmlflow.mjs';

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`environment variable ${name} is required`);
  }
  return v;
}

const verbose = process.env.E2E_VERBOSE === '1';
const log = (...a) => console.log('[oidc-flow]', ...a);
const debug = (...a) => verbose && console.log('[oidc-flow]  ', ...a);

let currentStep = 'setup';
async function step(name, fn) {
  currentStep = name;
  const t0 = performance.now();
  const result = await fn();
  log(`ok   ${name} (${(performance.now() - t0).toFixed(0)} ms)`);
  return result;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function describeError(err) {
  if (!err) return String(err);
  const parts = [`${err.name || 'Error'}: ${err.message}`];
  if (err.code) parts.push(`code=${err.code}`);
  if (err.error) parts.push(`error=${err.error}`);
  if (err.error_description) parts.push(`error_description=${err.error_description}`);
  if (err.status) parts.push(`status=${err.status}`);
  if (err.cause && typeof err.cause === 'object') {
    try {
      parts.push(`cause=${JSON.stringify(err.cause).slice(0, 800)}`);
    } catch {
      parts.push(`cause=${String(err.cause)}`);
    }
  }
  return parts.join(' ');
}

// expectOAuthError runs fn and requires it to fail with the OAuth error code `want`.
async function expectOAuthError(fn, want, what) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    assert(
      err instanceof client.ResponseBodyError && err.error === want,
      `${what}: want OAuth error "${want}", got ${describeError(err)}`,
    );
    return err;
  }
  throw new Error(`${what}: succeeded, want OAuth error "${want}" (response: ${JSON.stringify(result).slice(0, 300)})`);
}

async function main() {
  const issuer = env('E2E_ISSUER');
  const clientID = env('E2E_CLIENT_ID');
  const secret = env('E2E_CLIENT_SECRET');
  const redirectURI = env('E2E_REDIRECT_URI');
  const postLogoutURI = env('E2E_POST_LOGOUT_REDIRECT_URI');
  const username = env('E2E_USERNAME');
  const password = env('E2E_PASSWORD');
  const expectedEmail = env('E2E_EXPECTED_EMAIL');
  const expectedGroup = process.env.E2E_EXPECTED_GROUP || '';
  const connectorID = env('E2E_CONNECTOR_ID', 'local');
  const clientAuth = env('E2E_CLIENT_AUTH', 'post');
  const scope = 'openid email profile groups offline_access';

  // undefined: openid-client's default for a client secret (client_secret_post).
  const auth = clientAuth === 'basic' ? client.ClientSecretBasic(secret) : undefined;
  const config = await step('discovery', () =>
    client.discovery(new URL(issuer), clientID, secret, auth, {
      execute: [client.allowInsecureRequests],
      timeout: 15,
    }),
  );
  const meta = config.serverMetadata();
  debug('metadata', JSON.stringify(meta));
  assert(meta.issuer === issuer, `discovery issuer ${JSON.stringify(meta.issuer)} != ${JSON.stringify(issuer)}`);
  for (const ep of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']) {
    assert(typeof meta[ep] === 'string' && meta[ep] !== '', `discovery lacks ${ep}`);
  }
  assert((meta.code_challenge_methods_supported || []).includes('S256'), 'discovery: code_challenge_methods_supported lacks S256');

  const agent = new Agent({ log: debug });

  // login runs one authorization code flow and returns the token endpoint response.
  async function login(label) {
    const codeVerifier = client.randomPKCECodeVerifier();
    const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const authURL = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectURI,
      scope,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const { url: callbackURL, seen } = await step(`${label}: authorize (login form, consent)`, () =>
      driveAuthorization(agent, authURL, { stopAt: redirectURI, username, password, connectorID }),
    );
    debug('pages seen', seen.join(' -> '), 'callback', callbackURL.href);
    assert(!callbackURL.searchParams.has('error'), `authorization failed: ${callbackURL.href}`);
    assert(callbackURL.searchParams.get('state') === state, `callback state ${callbackURL.searchParams.get('state')} != ${state}`);
    assert(callbackURL.searchParams.get('iss') === issuer, `callback iss ${callbackURL.searchParams.get('iss')} != ${issuer} (RFC 9207)`);
    const tokens = await step(`${label}: authorizationCodeGrant`, () =>
      client.authorizationCodeGrant(config, callbackURL, {
        pkceCodeVerifier: codeVerifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      }),
    );
    const claims = tokens.claims();
    debug('id token claims', JSON.stringify(claims));
    assert(typeof claims.sub === 'string' && claims.sub !== '', 'ID token has no sub');
    assert(claims.nonce === nonce, `ID token nonce ${claims.nonce} != ${nonce}`);
    assert(claims.email === expectedEmail, `ID token email ${JSON.stringify(claims.email)} != ${JSON.stringify(expectedEmail)}`);
    assert(claims.aud === clientID || (Array.isArray(claims.aud) && claims.aud.includes(clientID)), `ID token aud ${JSON.stringify(claims.aud)} lacks ${clientID}`);
    assert(typeof tokens.access_token === 'string' && tokens.access_token !== '', 'no access_token');
    assert(typeof tokens.refresh_token === 'string' && tokens.refresh_token !== '', 'no refresh_token although offline_access was requested and granted');
    assert(String(tokens.token_type).toLowerCase() === 'bearer', `token_type ${tokens.token_type}, want Bearer`);
    return { tokens, claims, seen };
  }

  // 1. First login: the login form and the consent page must both be shown.
  const first = await login('login 1');
  assert(first.seen.includes('login'), `first login did not show the login form (pages: ${first.seen.join(', ')})`);
  assert(first.seen.includes('consent'), `first login did not show the consent page (pages: ${first.seen.join(', ')})`);
  const sub = first.claims.sub;

  await step('userinfo', async () => {
    const info = await client.fetchUserInfo(config, first.tokens.access_token, sub);
    debug('userinfo', JSON.stringify(info));
    assert(info.sub === sub, `userinfo sub ${info.sub} != ${sub}`);
    assert(info.email === expectedEmail, `userinfo email ${JSON.stringify(info.email)} != ${JSON.stringify(expectedEmail)}`);
    assert(info.preferred_username === username, `userinfo preferred_username ${JSON.stringify(info.preferred_username)} != ${JSON.stringify(username)}`);
    if (expectedGroup) {
      assert(Array.isArray(info.groups) && info.groups.includes(expectedGroup), `userinfo groups ${JSON.stringify(info.groups)} lack ${expectedGroup}`);
    }
  });

  await step('introspection of a live access token', async () => {
    const intro = await client.tokenIntrospection(config, first.tokens.access_token);
    assert(intro.active === true, `introspection: active=${intro.active}, want true (${JSON.stringify(intro)})`);
    assert(intro.sub === undefined || intro.sub === sub, `introspection sub ${intro.sub} != ${sub}`);
  });

  // 2. Refresh rotation and reuse detection.
  const rt1 = first.tokens.refresh_token;
  const refreshed = await step('refreshTokenGrant rotates the refresh token', async () => {
    const r = await client.refreshTokenGrant(config, rt1);
    assert(typeof r.access_token === 'string' && r.access_token !== '', 'refresh: no access_token');
    assert(typeof r.refresh_token === 'string' && r.refresh_token !== '', 'refresh: no new refresh_token');
    assert(r.refresh_token !== rt1, 'refresh: the refresh token was not rotated');
    if (r.id_token) {
      const c = r.claims();
      assert(c.sub === sub, `refresh: ID token sub ${c.sub} != ${sub}`);
    }
    const info = await client.fetchUserInfo(config, r.access_token, sub);
    assert(info.sub === sub, 'userinfo with the refreshed access token: wrong sub');
    return r;
  });
  // Within the reuse grace (default 5s) a retry with rt1 while its successor is unused is
  // taken as a lost response; once the successor has been used, rt1 again is reuse.
  const refreshed2 = await step('the successor refreshes (so rt1 is now plainly reused)', async () => {
    const r = await client.refreshTokenGrant(config, refreshed.refresh_token);
    assert(r.refresh_token && r.refresh_token !== refreshed.refresh_token, 'second refresh: not rotated');
    return r;
  });
  await step('reusing the rotated refresh token is refused (invalid_grant)', () =>
    expectOAuthError(() => client.refreshTokenGrant(config, rt1), 'invalid_grant', 'refresh with the old refresh token'),
  );
  await step('the reuse revoked the family: the newest refresh token is refused too', () =>
    expectOAuthError(() => client.refreshTokenGrant(config, refreshed2.refresh_token), 'invalid_grant', 'refresh with the newest refresh token after reuse'),
  );

  // 3. A fresh login rides the SSO session and the stored consent, then its tokens are revoked.
  const second = await login('login 2 (SSO)');
  assert(!second.seen.includes('login'), `second login asked for the password again despite the SSO session (pages: ${second.seen.join(', ')})`);
  assert(!second.seen.includes('consent'), `second login asked for consent again for the same scopes (pages: ${second.seen.join(', ')})`);
  assert(second.claims.sub === sub, `second login: sub ${second.claims.sub} != ${sub}`);
  assert(second.tokens.refresh_token !== rt1 && second.tokens.refresh_token !== refreshed.refresh_token, 'second login reused a refresh token');

  await step('tokenRevocation of the access token; userinfo then refuses it', async () => {
    await client.fetchUserInfo(config, second.tokens.access_token, sub); // works before
    await client.tokenRevocation(config, second.tokens.access_token, { token_type_hint: 'access_token' });
    let err;
    try {
      await client.fetchUserInfo(config, second.tokens.access_token, sub);
    } catch (e) {
      err = e;
    }
    assert(err, 'userinfo accepted a revoked access token');
    assert(
      err instanceof client.WWWAuthenticateChallengeError || (err.status && err.status === 401) || err instanceof client.ResponseBodyError,
      `userinfo with a revoked access token: unexpected failure ${describeError(err)}`,
    );
    debug('userinfo after revocation:', describeError(err));
    const intro = await client.tokenIntrospection(config, second.tokens.access_token);
    assert(intro.active === false, `introspection of a revoked access token: active=${intro.active}, want false`);
  });
  await step('tokenRevocation of the refresh token; refresh then fails (invalid_grant)', async () => {
    await client.tokenRevocation(config, second.tokens.refresh_token, { token_type_hint: 'refresh_token' });
    await expectOAuthError(() => client.refreshTokenGrant(config, second.tokens.refresh_token), 'invalid_grant', 'refresh with a revoked refresh token');
    // RFC 7009: revoking an unknown token is not an error.
    await client.tokenRevocation(config, 'not-a-token-gatehouse-issued');
  });

  // 4. RP-initiated logout.
  const logoutState = client.randomState();
  await step('buildEndSessionUrl and follow it to the post_logout_redirect_uri', async () => {
    const endURL = client.buildEndSessionUrl(config, {
      id_token_hint: second.tokens.id_token,
      post_logout_redirect_uri: postLogoutURI,
      state: logoutState,
    });
    let next = { url: endURL.href, method: 'GET' };
    for (let i = 0; i < 10; i++) {
      if (next.url.startsWith(postLogoutURI)) {
        const u = new URL(next.url);
        assert(u.origin + u.pathname === new URL(postLogoutURI).origin + new URL(postLogoutURI).pathname, `logout redirected to ${next.url}, want ${postLogoutURI}`);
        assert(u.searchParams.get('state') === logoutState, `logout redirect state ${u.searchParams.get('state')} != ${logoutState}`);
        return;
      }
      const res = await agent.request(next.url, { method: next.method, form: next.form });
      if (res.status >= 300 && res.status < 400 && res.location) {
        next = { url: res.location, method: 'GET' };
        continue;
      }
      // A logout confirmation page: submit its first button.
      const form = res.status === 200 ? parseForms(res.body).find((f) => f.method === 'post') : undefined;
      if (form) {
        const button = form.buttons[0];
        const data = form.fields.map((f) => [f.name, f.value]);
        if (button && button.name) data.push([button.name, button.value]);
        next = { url: new URL(form.action || res.url, res.url).href, method: 'POST', form: data };
        continue;
      }
      throw new Error(`logout: unexpected HTTP ${res.status} at ${res.url}: ${excerpt(res.body)}`);
    }
    throw new Error('logout: too many steps');
  });

  await step('after logout the SSO session is gone: /authorize shows the login form', async () => {
    const authURL = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectURI,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
      nonce: client.randomNonce(),
    });
    let url = authURL.href;
    for (let i = 0; i < 10; i++) {
      assert(!url.startsWith(redirectURI), `after logout /authorize redirected straight back to the client: ${url}`);
      const res = await agent.request(url);
      if (res.status >= 300 && res.status < 400 && res.location) {
        url = res.location;
        continue;
      }
      assert(res.status === 200, `after logout: HTTP ${res.status} at ${res.url}`);
      const hasPassword = parseForms(res.body).some((f) => f.fields.some((x) => x.type === 'password'));
      const isChooser = !hasPassword && /connector/i.test(res.body);
      assert(hasPassword || isChooser, `after logout: expected the login form, got: ${excerpt(res.body)}`);
      return;
    }
    throw new Error('after logout: too many redirects');
  });

  log('PASS: the openid-client relying party completed every check');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[oidc-flow] FAIL at step "${currentStep}": ${describeError(err)}`);
    if (verbose && err && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
