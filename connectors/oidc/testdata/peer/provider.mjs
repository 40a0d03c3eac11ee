// provider.mjs runs npm oidc-provider (an OpenID Certified provider) as a real upstream for the
// oidc connector's peer tests. It listens on 127.0.0.1, prints one JSON line
// {"issuer": "...", "addr": "127.0.0.1:PORT"} on stdout when ready, and runs until killed.
//
// Environment:
//   PORT           port to listen on (0: any free port)
//   ISSUER         issuer URL to announce when reached through a proxy in front of it (the
//                  proxy keeps the Host header); empty: http://127.0.0.1:PORT
//   REDIRECT_URIS  comma-separated redirect URIs of the static client "gatehouse"
//   CLIENT_SECRET  the client's secret
//   POST_LOGOUT_REDIRECT_URIS  comma-separated post_logout_redirect_uris of that client
//                  (RP-Initiated Logout, on by default in oidc-provider)
//   BACKCHANNEL_LOGOUT_URI     that client's backchannel_logout_uri (Back-Channel Logout,
//                  features.backchannelLogout; with session required, so ID tokens carry sid)
//
// Fixed test accounts (password "password" for each). Code-flow ID tokens carry only sub, acr,
// amr and auth_time (the provider's default shape); email, profile and groups come from userinfo:
//   alice  alice@example.com, verified, groups admins + staff
//   bob    bob@example.com, email_verified false
//   carol  carol@other.test, verified
//   dave   dave@example.com, verified   } POST /__test/remove?sub=NAME deletes one
//   erin   erin@example.com, verified   } (the removal tests use these two)
//
// The interaction pages are plain HTML forms a test can drive with HTTP requests:
// /interaction/{uid} shows the login form (login, password) or the consent form; both post
// back to /interaction/{uid}; /interaction/{uid}/abort cancels with access_denied.
import http from 'node:http';
import crypto from 'node:crypto';
import { URL } from 'node:url';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

// The provider's default in-memory store is an LRU of 1000 entries: under a load test (every
// login and every refresh stores records) it would silently forget refresh tokens still in
// use, and refreshes would fail with invalid_grant. Same adapter, a store large enough for any
// test run.
const store = new LRU({ maxSize: 200000 });

const accounts = new Map([
  ['alice', { email: 'alice@example.com', email_verified: true, name: 'Alice Upstream', preferred_username: 'alice', groups: ['admins', 'staff'] }],
  ['bob', { email: 'bob@example.com', email_verified: false, name: 'Bob Unverified', preferred_username: 'bob', groups: ['staff'] }],
  ['carol', { email: 'carol@other.test', email_verified: true, name: 'Carol Other', preferred_username: 'carol', groups: [] }],
  ['dave', { email: 'dave@example.com', email_verified: true, name: 'Dave Leaving', preferred_username: 'dave', groups: ['staff'] }],
  ['erin', { email: 'erin@example.com', email_verified: true, name: 'Erin Leaving', preferred_username: 'erin', groups: ['staff'] }],
]);

const redirectUris = (process.env.REDIRECT_URIS || '').split(',').filter(Boolean);
const clientSecret = process.env.CLIENT_SECRET || 'gatehouse-upstream-secret';
const postLogoutRedirectUris = (process.env.POST_LOGOUT_REDIRECT_URIS || '').split(',').filter(Boolean);
const backchannelLogoutUri = process.env.BACKCHANNEL_LOGOUT_URI || '';
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-1', use: 'sig', alg: 'RS256' };

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html><head><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;

const server = http.createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const addr = `127.0.0.1:${server.address().port}`;
  const issuer = process.env.ISSUER || `http://${addr}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'gatehouse',
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(postLogoutRedirectUris.length ? { post_logout_redirect_uris: postLogoutRedirectUris } : {}),
      ...(backchannelLogoutUri ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    }],
    adapter: (model) => new MemoryAdapter(model, store),
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    acrValues: ['urn:gatehouse:test:pwd'],
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // A plain form a test can drive: POST it with logout=yes to end the session.
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', form.replace('</form>', '<input type="hidden" name="logout" value="yes"/><button>Sign out</button></form>'));
        },
      },
    },
    pkce: { required: () => false },
    // The provider refuses outgoing requests to special-use addresses (SSRF protection), and
    // every test party listens on 127.0.0.1: its back-channel logout POSTs go without it.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options; // eslint-disable-line no-unused-vars
      return globalThis.fetch(url, rest);
    },
    rotateRefreshToken: false,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return { accountId: sub, async claims() { return { sub, ...a }; } };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('backchannel.error', (ctx, err, client) => console.error('backchannel.error', client.clientId, err && err.message));

  async function interaction(req, res, uid, rest) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    const { prompt, params } = details;
    if (rest === '/abort') {
      return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
    }
    if (req.method === 'GET') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      if (prompt.name === 'login') {
        return res.end(page('Sign in', `<form method="post" action="/interaction/${esc(uid)}"><input name="login"><input name="password" type="password"><button>Sign in</button></form><form method="post" action="/interaction/${esc(uid)}/abort"><button>Cancel</button></form>`));
      }
      return res.end(page('Authorize', `<p>${esc(params.client_id)} asks for ${esc(params.scope)}</p><form method="post" action="/interaction/${esc(uid)}"><input type="hidden" name="consent" value="yes"><button>Allow</button></form><form method="post" action="/interaction/${esc(uid)}/abort"><button>Deny</button></form>`));
    }
    const body = new URLSearchParams(await readBody(req));
    if (prompt.name === 'login') {
      const login = body.get('login');
      if (!accounts.has(login) || body.get('password') !== 'password') {
        res.statusCode = 401;
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        return res.end(page('Sign in failed', `<form method="post" action="/interaction/${esc(uid)}"><input name="login"><input name="password" type="password"><button>Sign in</button></form>`));
      }
      return provider.interactionFinished(req, res, { login: { accountId: login, amr: ['pwd'], acr: 'urn:gatehouse:test:pwd' } }, { mergeWithLastSubmission: false });
    }
    // consent: grant everything asked for
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, s] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, s.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const u = new URL(req.url, issuer);
    try {
      if (u.pathname === '/__test/remove' && req.method === 'POST') {
        accounts.delete(u.searchParams.get('sub'));
        res.statusCode = 204;
        return res.end();
      }
      const m = u.pathname.match(/^\/interaction\/([^/]+)(\/abort)?$/);
      if (m) return await interaction(req, res, m[1], m[2] || '');
      return callback(req, res);
    } catch (err) {
      console.error(err);
      res.statusCode = 500;
      res.end(String(err && err.message));
    }
  });
  process.stdout.write(JSON.stringify({ issuer, addr }) + '\n');
});

function readBody(req) {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { s += c; if (s.length > 65536) reject(new Error('body too large')); });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
