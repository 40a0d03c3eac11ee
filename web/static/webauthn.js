// Gatehouse WebAuthn helper. A form with data-webauthn="create" (registration) or "get"
// (sign-in) carries the server's options as JSON in data-options; its button with
// data-webauthn-start runs the ceremony, puts the credential (JSON, base64url fields) in the
// form's "credential" field and submits the form. Served as a static file so the pages' CSP
// can stay script-src 'self'.
(function () {
  'use strict';

  function fromB64u(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64u(buf) {
    const bytes = new Uint8Array(buf);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function creationOptions(o) {
    const p = o.publicKey;
    p.challenge = fromB64u(p.challenge);
    p.user.id = fromB64u(p.user.id);
    (p.excludeCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: p };
  }

  function requestOptions(o) {
    const p = o.publicKey;
    p.challenge = fromB64u(p.challenge);
    (p.allowCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: p };
  }

  function credentialJSON(cred) {
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) },
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle && r.userHandle.byteLength) out.response.userHandle = toB64u(r.userHandle);
    }
    return JSON.stringify(out);
  }

  function setup(form) {
    // A page may load this script once per WebAuthn form: set each form up once.
    if (form.dataset.webauthnReady) return;
    form.dataset.webauthnReady = '1';
    const button = form.querySelector('[data-webauthn-start]');
    const errorBox = form.querySelector('[data-webauthn-error]');
    const fail = function (msg) {
      if (errorBox) {
        errorBox.textContent = msg;
        errorBox.hidden = false;
      }
      if (button) button.disabled = false;
    };
    if (!button) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      fail('This browser does not support security keys or passkeys.');
      button.disabled = true;
      return;
    }
    // data-conditional (the passkey sign-in form): the browser also offers its passkeys in
    // the username field's autofill (autocomplete="username webauthn"); the button aborts
    // that pending request before it starts its own.
    let conditional = null;
    if (form.dataset.conditional !== undefined && window.PublicKeyCredential.isConditionalMediationAvailable) {
      window.PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        conditional = new AbortController();
        const req = requestOptions(JSON.parse(form.dataset.options));
        req.mediation = 'conditional';
        req.signal = conditional.signal;
        return navigator.credentials.get(req).then(function (cred) {
          if (!cred) return;
          form.elements.credential.value = credentialJSON(cred);
          form.submit();
        });
      }).catch(function () { /* aborted by the button, or no passkey chosen */ });
    }
    button.addEventListener('click', async function (ev) {
      ev.preventDefault();
      button.disabled = true;
      if (errorBox) errorBox.hidden = true;
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      try {
        const opts = JSON.parse(form.dataset.options);
        const cred = form.dataset.webauthn === 'create'
          ? await navigator.credentials.create(creationOptions(opts))
          : await navigator.credentials.get(requestOptions(opts));
        if (!cred) throw new Error('no credential');
        form.elements.credential.value = credentialJSON(cred);
        form.submit();
      } catch (err) {
        fail('That did not work (' + (err && err.name ? err.name : 'error') + '). Try again, or use another way to verify.');
      }
    });
  }

  document.querySelectorAll('form[data-webauthn]').forEach(setup);
})();
