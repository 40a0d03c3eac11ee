// admin-rp.mjs: a strict openid-client v6 relying party for the admin API's end-to-end test
// (e2e/admin_test.go), run with a client created at runtime through `gatehouse client create`.
//
// E2E_STEP=login   discovery, code flow with PKCE, state and nonce through Gatehouse's login and
//                  consent pages, ID token validated; prints REFRESH_TOKEN=<token>.
// E2E_STEP=refresh refreshes E2E_REFRESH_TOKEN with E2E_CLIENT_SECRET; prints REFRESH_TOKEN=<new>.
//                  With E2E_EXPECT_ERROR=<code> the refresh must fail with that OAuth error
//                  (prints REFUSED=<code>).
//
// Other inputs: E2E_ISSUER, E2E_CLIENT_ID, E2E_CLIENT_SECRET, E2E_REDIRECT_URI, E2E_USERNAME,
// E2E_PASSWORD. Exit status 0 when every check passes; 1 with a message otherwise.

import * as client from 'openid-client';
import { Agent, driveAuthorization } from './htmlflow.mjs';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function login(config, issuer) {
  const redirectURI = env('E2E_REDIRECT_URI');
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI,
    scope: 'openid email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const { url: callbackURL } = await driveAuthorization(new Agent({ log: () => {} }), authURL, {
    stopAt: redirectURI, username: env('E2E_USERNAME'), password: env('E2E_PASSWORD'), connectorID: 'local',
  });
  assert(callbackURL.searchParams.get('iss') === issuer, `callback iss ${callbackURL.searchParams.get('iss')} != ${issuer}`);
  const tokens = await client.authorizationCodeGrant(config, callbackURL, {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert(claims.aud === config.clientMetadata().client_id || claims.aud?.includes?.(config.clientMetadata().client_id), `ID token aud ${claims.aud}`);
  assert(tokens.refresh_token, 'no refresh_token although offline_access was granted');
  console.log('[admin-rp] ok   code flow, ID token valid for', claims.aud);
  console.log(`REFRESH_TOKEN=${tokens.refresh_token}`);
}

// oauthError returns the OAuth error code of a failed request: from the parsed body, or (a
// 401 with a WWW-Authenticate challenge, as invalid_client is answered) from the response.
async function oauthError(err) {
  if (err.error) return err.error;
  if (err.response) {
    try {
      const body = await err.response.json();
      if (body.error) return body.error;
    } catch {
      // not JSON: fall through
    }
  }
  return err.code || String(err);
}

async function refresh(config) {
  const want = process.env.E2E_EXPECT_ERROR || '';
  let r;
  try {
    r = await client.refreshTokenGrant(config, env('E2E_REFRESH_TOKEN'));
  } catch (err) {
    const code = await oauthError(err);
    if (want && code === want) {
      console.log(`[admin-rp] ok   refresh refused with ${code}`);
      console.log(`REFUSED=${code}`);
      return;
    }
    throw err;
  }
  assert(!want, `refresh succeeded, want OAuth error ${want}`);
  assert(r.refresh_token, 'refresh: no new refresh_token');
  console.log('[admin-rp] ok   refresh');
  console.log(`REFRESH_TOKEN=${r.refresh_token}`);
}

async function main() {
  const issuer = env('E2E_ISSUER');
  const config = await client.discovery(new URL(issuer), env('E2E_CLIENT_ID'), env('E2E_CLIENT_SECRET'), undefined, {
    execute: [client.allowInsecureRequests], timeout: 15,
  });
  assert(config.serverMetadata().issuer === issuer, 'discovery issuer mismatch');
  if (env('E2E_STEP') === 'login') await login(config, issuer);
  else await refresh(config);
  console.log('PASS');
}

main().catch((err) => {
  console.error('[admin-rp] FAIL', err && err.error ? `${err.error}: ${err.error_description}` : err);
  process.exit(1);
});
