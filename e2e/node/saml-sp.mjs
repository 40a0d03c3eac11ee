// saml-sp.mjs is a real, strict SAML 2.0 service provider, @node-saml/node-saml, against
// Gatehouse's SAML IdP. It consumes Gatehouse's metadata (signing certificate, SSO and SLO
// endpoints) and serves its own SP metadata, which Gatehouse fetches lazily from metadata_url.
// A browser without JavaScript is played by htmlflow.mjs's Agent.
//
// Checked: signed HTTP-Redirect AuthnRequests; login through the local connector and consent;
// the Response and Assertion signatures, audience, InResponseTo and timestamps (node-saml),
// Destination and Recipient (here, since node-saml does not check them); attributes and a
// stable persistent NameID; SSO without a password; a Response tampered in flight is refused;
// an encrypted assertion is decrypted by the SP; SP-initiated single logout (signed
// LogoutRequest, signed LogoutResponse validated by node-saml) ends the Gatehouse session
// and reaches the session's other SP first (a LogoutRequest node-saml validates).
//
// Environment: E2E_ISSUER, E2E_USERNAME, E2E_PASSWORD, E2E_EXPECTED_EMAIL, E2E_EXPECTED_GROUP,
// E2E_SP_PORT, E2E_SP_KEY, E2E_SP_CERT, E2E_ENC_KEY, E2E_ENC_CERT (PEM file paths).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { Agent, parseForms, formData, excerpt } from './htmlflow.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const issuer = env('E2E_ISSUER');
const username = env('E2E_USERNAME');
const password = env('E2E_PASSWORD');
const expectedEmail = env('E2E_EXPECTED_EMAIL');
const expectedGroup = env('E2E_EXPECTED_GROUP');
const port = Number(env('E2E_SP_PORT'));
const spKey = readFileSync(env('E2E_SP_KEY'), 'utf8');
const spCert = readFileSync(env('E2E_SP_CERT'), 'utf8');
const encKey = readFileSync(env('E2E_ENC_KEY'), 'utf8');
const encCert = readFileSync(env('E2E_ENC_CERT'), 'utf8');

function check(cond, msg) {
  if (!cond) throw new Error(`FAIL: ${msg}`);
  console.log(`ok: ${msg}`);
}

async function mustFail(promise, msg) {
  try {
    await promise;
  } catch (err) {
    console.log(`ok: ${msg} (${String(err.message).slice(0, 120)})`);
    return;
  }
  throw new Error(`FAIL: ${msg}: it was accepted`);
}

// 1. Gatehouse's IdP metadata.
const mdRes = await fetch(`${issuer}/saml/idp/metadata`);
check(mdRes.status === 200, 'IdP metadata is served');
const md = await mdRes.text();
const idpEntity = md.match(/entityID="([^"]+)"/)[1];
const idpCert = md.match(/<KeyDescriptor use="signing">[\s\S]*?<X509Certificate[^>]*>([^<]+)</)[1].replace(/\s+/g, '');
const sso = md.match(/<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="([^"]+)"/)[1];
const slo = md.match(/<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="([^"]+)"/)[1];
check(idpEntity === `${issuer}/saml/idp/metadata` && sso === `${issuer}/saml/idp/sso` && slo === `${issuer}/saml/idp/slo`, 'metadata names the entity, SSO and SLO endpoints');

// 2. Two SPs: one plain (persistent NameID), one wanting encrypted assertions.
const base = `http://127.0.0.1:${port}`;
function newSP(name, extra) {
  return new SAML({
    entryPoint: sso,
    logoutUrl: slo,
    issuer: `${base}/${name}/metadata`,
    callbackUrl: `${base}/${name}/acs`,
    logoutCallbackUrl: `${base}/${name}/slo`,
    audience: `${base}/${name}/metadata`,
    idpCert,
    idpIssuer: idpEntity,
    privateKey: spKey,
    publicCert: spCert,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    validateInResponseTo: ValidateInResponseTo.always,
    identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    acceptedClockSkewMs: 5000,
    ...extra,
  });
}
const plain = newSP('plain', {});
const enc = newSP('enc', { decryptionPvk: encKey });
const metadata = {
  '/plain/metadata': plain.generateServiceProviderMetadata(null, spCert),
  '/enc/metadata': enc.generateServiceProviderMetadata(encCert, spCert),
};
const server = http.createServer((req, res) => {
  const body = metadata[req.url];
  if (!body) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(body);
});
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));

const agent = new Agent({ log: (l) => console.log('  ' + l) });

// login drives the browser from the SP's AuthnRequest to the form Gatehouse posts to the ACS.
async function login(sp, name, relayState) {
  const url = await sp.getAuthorizeUrlAsync(relayState, undefined, {});
  check(new URL(url).searchParams.has('Signature'), `${name}: the AuthnRequest is signed (HTTP-Redirect)`);
  let next = { url, method: 'GET' };
  const seen = [];
  for (let step = 0; step < 20; step++) {
    const res = await agent.request(next.url, { method: next.method, form: next.form });
    if (res.status >= 300 && res.status < 400) {
      next = { url: res.location, method: 'GET' };
      continue;
    }
    if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${res.url}: ${excerpt(res.body)}`);
    const forms = parseForms(res.body);
    const resolve = (action) => new URL(action || res.url, res.url).href;
    const acs = forms.find((f) => f.fields.some((x) => x.name === 'SAMLResponse'));
    if (acs) {
      check(acs.method === 'post' && acs.action === `${base}/${name}/acs`, `${name}: the Response is posted to the ACS`);
      check(acs.buttons.length > 0 || /<button type="submit"/.test(res.body), `${name}: the form works without JavaScript (a button)`);
      const fields = Object.fromEntries(formData(acs));
      return { fields, seen };
    }
    const loginForm = forms.find((f) => f.fields.some((x) => x.type === 'password'));
    if (loginForm) {
      seen.push('login');
      next = { url: resolve(loginForm.action), method: 'POST', form: formData(loginForm, { username, password }) };
      continue;
    }
    const consent = forms.find((f) => f.buttons.some((b) => b.name === 'decision'));
    if (consent) {
      seen.push('consent');
      const allow = consent.buttons.find((b) => b.value === 'allow');
      next = { url: resolve(consent.action), method: 'POST', form: formData(consent, {}, allow) };
      continue;
    }
    throw new Error(`unexpected page at ${res.url}: ${excerpt(res.body)}`);
  }
  throw new Error('too many steps');
}

function decode(fields) {
  return Buffer.from(fields.SAMLResponse, 'base64').toString('utf8');
}

// destinationChecks is what node-saml leaves out: Destination and Recipient are the ACS.
function destinationChecks(name, xml, acs, encrypted) {
  const dest = xml.match(/<samlp:Response[^>]*\sDestination="([^"]+)"/);
  check(dest && dest[1] === acs, `${name}: Response Destination is the ACS`);
  if (!encrypted) {
    const rcpt = xml.match(/<saml:SubjectConfirmationData[^>]*\sRecipient="([^"]+)"/);
    check(rcpt && rcpt[1] === acs, `${name}: SubjectConfirmationData Recipient is the ACS`);
  }
}

// 3. Login through the local connector, consent, strict validation.
const first = await login(plain, 'plain', 'relay-plain');
check(first.seen.includes('login') && first.seen.includes('consent'), 'plain: login and consent pages were shown');
const xml1 = decode(first.fields);
destinationChecks('plain', xml1, `${base}/plain/acs`, false);
check(first.fields.RelayState === 'relay-plain', 'plain: RelayState comes back');
const { profile } = await plain.validatePostResponseAsync(first.fields);
check(profile.nameIDFormat === 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' && profile.nameID, 'plain: persistent NameID');
check(profile.mail === expectedEmail, `plain: mail attribute is ${expectedEmail}`);
const groups = [].concat(profile.memberOf || []);
check(groups.includes(expectedGroup), `plain: memberOf includes ${expectedGroup}`);
check(profile.sessionIndex, 'plain: SessionIndex');

// The same Response again: InResponseTo was used up.
await mustFail(plain.validatePostResponseAsync(first.fields), 'plain: a replayed Response is refused (InResponseTo)');

// 4. SSO: no password the second time; same NameID. A Response tampered in flight is refused.
const second = await login(plain, 'plain', 'relay-2');
check(!second.seen.includes('login'), 'plain: SSO without a password');
const tampered = decode(second.fields).replace(expectedEmail, 'mallory@example.com');
check(tampered !== decode(second.fields), 'plain: tampering changed the Response');
await mustFail(
  plain.validatePostResponseAsync({ ...second.fields, SAMLResponse: Buffer.from(tampered).toString('base64') }),
  'plain: a Response tampered in flight is refused',
);
// (the tampered attempt consumed the request ID, as a real SP's cache would: log in once more)
const third = await login(plain, 'plain', 'relay-3');
const again = await plain.validatePostResponseAsync(third.fields);
check(again.profile.nameID === profile.nameID, 'plain: the persistent NameID is stable');

// Another SP's Response is refused by audience.
const forEnc = await login(enc, 'enc', 'relay-enc');
await mustFail(plain.validatePostResponseAsync(forEnc.fields), "plain: another SP's Response is refused (InResponseTo, audience)");

// 5. Encrypted assertion, decrypted by the SP.
const xmlEnc = decode(forEnc.fields);
check(xmlEnc.includes('EncryptedAssertion') && !xmlEnc.includes(expectedEmail), 'enc: the assertion is encrypted');
destinationChecks('enc', xmlEnc, `${base}/enc/acs`, true);
const encProfile = (await enc.validatePostResponseAsync(forEnc.fields)).profile;
check(encProfile.mail === expectedEmail, 'enc: the SP decrypted the assertion');
check(encProfile.nameID !== profile.nameID, 'enc: persistent NameIDs differ per SP');

// 6. SP-initiated single logout ends the Gatehouse session.
const logoutURL = await plain.getLogoutUrlAsync(again.profile, 'bye', {});
let lo = await agent.request(logoutURL);
// The other SP of the session (enc) is told first (issue 18): node-saml's metadata names an
// HTTP-POST SingleLogoutService, so Gatehouse posts it a signed LogoutRequest; enc validates
// it and answers with its LogoutResponse (HTTP-Redirect), which Gatehouse takes at its SLO.
const encReqForm = parseForms(lo.body).find((f) => f.fields.some((x) => x.name === 'SAMLRequest'));
check(lo.status === 200 && encReqForm && encReqForm.action === `${base}/enc/slo`, 'logout: the other SP gets a LogoutRequest first');
const encReq = await enc.validatePostRequestAsync(Object.fromEntries(formData(encReqForm)));
check(encReq.loggedOut === true && encReq.profile.nameID === encProfile.nameID, "logout: node-saml validated the signed LogoutRequest for enc's NameID");
const encBack = await enc.getLogoutResponseUrlAsync(encReq.profile, Object.fromEntries(formData(encReqForm)).RelayState, {}, true);
lo = await agent.request(encBack);
// Then plain, which asked, gets its answer last: its metadata names an HTTP-POST
// SingleLogoutService, so Gatehouse answers with a form
// (auto-submitting, allowed by a hash-based CSP) carrying the signed LogoutResponse.
const loForm = parseForms(lo.body).find((f) => f.fields.some((x) => x.name === 'SAMLResponse'));
check(lo.status === 200 && loForm && loForm.action === `${base}/plain/slo`, 'logout: a LogoutResponse is posted to the SP');
const csp = lo.headers.get('content-security-policy') || '';
check(/script-src 'sha256-/.test(csp) && !csp.includes('unsafe-inline'), 'logout: the form page allows only its own scripts');
// validatePostResponseAsync reads InResponseTo only from a <Response>, so with "always" it
// refuses every LogoutResponse; the same SP (same request-ID cache) with "ifPresent" checks
// the LogoutResponse's InResponseTo against the LogoutRequest it sent.
const plainLogout = newSP('plain', { validateInResponseTo: ValidateInResponseTo.ifPresent, cacheProvider: plain.options.cacheProvider });
const loXML = Buffer.from(Object.fromEntries(formData(loForm)).SAMLResponse, 'base64').toString('utf8');
check(/<samlp:LogoutResponse[^>]*\sInResponseTo="[^"]+"/.test(loXML), 'logout: the LogoutResponse answers the LogoutRequest (InResponseTo)');
const loResult = await plainLogout.validatePostResponseAsync(Object.fromEntries(formData(loForm)));
check(loResult.loggedOut === true, 'logout: node-saml validated the signed LogoutResponse');
const after = await login(plain, 'plain', 'relay-after');
check(after.seen.includes('login'), 'logout: the next login asks for the password again');

server.close();
console.log('PASS');
