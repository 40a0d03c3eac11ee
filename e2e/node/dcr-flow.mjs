// dcr-flow.mjs: Dynamic Client Registration end to end (e2e/registration_test.go) with an
// unmodified openid-client v6: dynamicClientRegistration() with an initial access token
// against the running binary, a code flow with PKCE as the registered client, a refresh,
// then RFC 7592 management over HTTP: read, update (the registration access token
// rotates), delete (the refresh token stops working); a second registration with the spent
// one-use token is refused.
//
// Inputs: E2E_ISSUER, E2E_INITIAL_ACCESS_TOKEN, E2E_REDIRECT_URI, E2E_USERNAME, E2E_PASSWORD.
// Prints CLIENT_ID=<id>; exit status 0 with PASS when every check passes.

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

async function codeFlow(config, issuer, redirectURI) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: 'openid email offline_access', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
  });
  const { url: callbackURL } = await driveAuthorization(new Agent({ log: () => {} }), authURL, {
    stopAt: redirectURI, username: env('E2E_USERNAME'), password: env('E2E_PASSWORD'), connectorID: 'local',
  });
  assert(callbackURL.searchParams.get('iss') === issuer, 'callback iss mismatch');
  const tokens = await client.authorizationCodeGrant(config, callbackURL, {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  assert(tokens.claims().aud === config.clientMetadata().client_id, `ID token aud ${tokens.claims().aud}`);
  assert(tokens.refresh_token, 'no refresh token');
  console.log('[dcr] ok   code flow with PKCE as the registered client');
  return tokens.refresh_token;
}

// manage sends an RFC 7592 request to the registration client URI.
async function manage(method, uri, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers['content-type'] = 'application/json';
  const res = await fetch(uri, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, auth: res.headers.get('www-authenticate') };
}

async function errorOf(promise) {
  try {
    await promise;
  } catch (err) {
    if (err.error) return err.error;
    if (err.cause?.error) return err.cause.error;
    if (err.response) {
      try { return (await err.response.json()).error; } catch { /* not JSON */ }
    }
    return err.code || String(err);
  }
  return 'no error';
}

async function main() {
  const issuer = env('E2E_ISSUER');
  const redirectURI = env('E2E_REDIRECT_URI');
  const iat = env('E2E_INITIAL_ACCESS_TOKEN');
  const opts = { initialAccessToken: iat, execute: [client.allowInsecureRequests], timeout: 15 };
  const metadata = {
    redirect_uris: [redirectURI], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post', client_name: 'DCR e2e',
  };
  const config = await client.dynamicClientRegistration(new URL(issuer), metadata, undefined, opts);
  const md = config.clientMetadata();
  assert(config.serverMetadata().registration_endpoint === `${issuer}/register`, 'registration_endpoint not advertised');
  assert(md.client_id && md.client_secret && md.registration_access_token, 'registration answer incomplete');
  assert(md.registration_client_uri === `${issuer}/register/${md.client_id}`, `registration_client_uri ${md.registration_client_uri}`);
  assert(md.client_secret_expires_at === 0, 'client_secret_expires_at is not 0');
  console.log('[dcr] ok   registered', md.client_id);
  console.log(`CLIENT_ID=${md.client_id}`);

  const rt = await codeFlow(config, issuer, redirectURI);
  const refreshed = await client.refreshTokenGrant(config, rt);
  assert(refreshed.refresh_token, 'refresh: no new refresh token');
  console.log('[dcr] ok   refresh');

  const uri = md.registration_client_uri;
  let r = await manage('GET', uri, 'wrong-token');
  assert(r.status === 401 && /^Bearer/.test(r.auth || ''), `GET with a wrong token: ${r.status}`);
  r = await manage('GET', uri, md.registration_access_token);
  assert(r.status === 200 && r.body.client_id === md.client_id && r.body.client_name === 'DCR e2e', `GET: ${r.status} ${JSON.stringify(r.body)}`);
  console.log('[dcr] ok   RFC 7592 read');

  r = await manage('PUT', uri, md.registration_access_token, { ...metadata, client_id: md.client_id, client_name: 'DCR e2e renamed' });
  assert(r.status === 200 && r.body.client_name === 'DCR e2e renamed', `PUT: ${r.status} ${JSON.stringify(r.body)}`);
  const rotated = r.body.registration_access_token;
  assert(rotated && rotated !== md.registration_access_token, 'PUT did not rotate the registration access token');
  r = await manage('GET', uri, md.registration_access_token);
  assert(r.status === 401, `the old registration access token still works: ${r.status}`);
  r = await manage('PUT', uri, rotated, { client_id: md.client_id, redirect_uris: ['https://evil.example.com/cb'] });
  assert(r.status === 400 && r.body.error === 'invalid_redirect_uri', `PUT to a refused redirect: ${r.status} ${JSON.stringify(r.body)}`);
  console.log('[dcr] ok   RFC 7592 update (token rotated, policy enforced)');

  r = await manage('DELETE', uri, rotated);
  assert(r.status === 204, `DELETE: ${r.status}`);
  const refused = await errorOf(client.refreshTokenGrant(config, refreshed.refresh_token));
  assert(refused === 'invalid_client', `refresh after delete: ${refused}`);
  r = await manage('GET', uri, rotated);
  assert(r.status === 401, `GET after delete: ${r.status}`);
  console.log('[dcr] ok   RFC 7592 delete: the refresh token stopped working');

  const again = await errorOf(client.dynamicClientRegistration(new URL(issuer), metadata, undefined, opts));
  assert(again === 'invalid_token', `second use of the one-use initial access token: ${again}`);
  console.log('[dcr] ok   a spent initial access token is refused');
  console.log('PASS');
}

main().catch((err) => {
  console.error('[dcr] FAIL', err && err.error ? `${err.error}: ${err.error_description}` : err);
  process.exit(1);
});
