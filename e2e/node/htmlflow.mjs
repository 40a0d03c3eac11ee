// htmlflow.mjs drives Gatehouse's HTML login and consent pages with plain HTTP requests, the way
// a browser without JavaScript would: manual redirects, a small cookie jar and a small HTML form
// parser. It is used by oidc-flow.mjs; the relying-party side stays an unmodified openid-client.

/** Decodes the HTML character references that html/template and common servers emit. */
export function decodeEntities(s) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, ref) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return Object.hasOwn(named, ref) ? named[ref] : m;
  });
}

/** Parses the attributes of one start tag ("<input a=b c='d' e>") into a lower-cased map. */
export function parseAttrs(tag) {
  const attrs = {};
  const inner = tag.replace(/^<\s*[a-zA-Z0-9]+/, '').replace(/\/?>$/, '');
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(inner)) !== null) {
    const value = m[2] ?? m[3] ?? m[4] ?? '';
    attrs[m[1].toLowerCase()] = decodeEntities(value);
  }
  return attrs;
}

/**
 * Finds every <form> of a page with its method, action, fields (inputs, selects, textareas) and
 * submit buttons.
 */
export function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi;
  let fm;
  while ((fm = formRe.exec(html)) !== null) {
    const openTag = fm[0].match(/^<form\b[^>]*>/i)[0];
    const attrs = parseAttrs(openTag);
    const body = fm[1];
    const fields = [];
    const buttons = [];
    const inputRe = /<input\b[^>]*>/gi;
    let im;
    while ((im = inputRe.exec(body)) !== null) {
      const a = parseAttrs(im[0]);
      const type = (a.type || 'text').toLowerCase();
      if (type === 'submit' || type === 'image') {
        buttons.push({ name: a.name, value: a.value ?? '', text: a.value ?? '' });
        continue;
      }
      if ((type === 'checkbox' || type === 'radio') && !('checked' in a)) continue;
      if (a.name === undefined || 'disabled' in a) continue;
      fields.push({ name: a.name, value: a.value ?? (type === 'checkbox' ? 'on' : ''), type, id: a.id });
    }
    const taRe = /<textarea\b[^>]*>([\s\S]*?)<\/textarea\s*>/gi;
    let tm;
    while ((tm = taRe.exec(body)) !== null) {
      const a = parseAttrs(tm[0].match(/^<textarea\b[^>]*>/i)[0]);
      if (a.name !== undefined) fields.push({ name: a.name, value: decodeEntities(tm[1]), type: 'textarea' });
    }
    const btnRe = /<button\b[^>]*>([\s\S]*?)<\/button\s*>/gi;
    let bm;
    while ((bm = btnRe.exec(body)) !== null) {
      const a = parseAttrs(bm[0].match(/^<button\b[^>]*>/i)[0]);
      const type = (a.type || 'submit').toLowerCase();
      if (type !== 'submit') continue;
      const text = decodeEntities(bm[1].replace(/<[^>]*>/g, '')).replace(/\s+/g, ' ').trim();
      buttons.push({ name: a.name, value: a.value ?? '', text });
    }
    forms.push({ method: (attrs.method || 'get').toLowerCase(), action: attrs.action, fields, buttons });
  }
  return forms;
}

/** Finds every <a href> of a page with its text. */
export function parseLinks(html) {
  const links = [];
  const re = /<a\b[^>]*>([\s\S]*?)<\/a\s*>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const a = parseAttrs(m[0].match(/^<a\b[^>]*>/i)[0]);
    if (a.href === undefined) continue;
    links.push({ href: a.href, text: decodeEntities(m[1].replace(/<[^>]*>/g, '')).replace(/\s+/g, ' ').trim() });
  }
  return links;
}

/** A cookie jar for one loopback host: name -> value, honouring deletion by Max-Age/Expires. */
export class CookieJar {
  #cookies = new Map();

  /** Records the Set-Cookie headers of a response. */
  store(response) {
    const lines = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
    for (const line of lines) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'max-age' && Number(v.trim()) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v.trim()) < Date.now()) expired = true;
      }
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** Returns the Cookie header value, or undefined when the jar is empty. */
  header() {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Names of the cookies held. */
  names() {
    return [...this.#cookies.keys()];
  }
}

/** A browser-like HTTP agent: manual redirects, cookies, a bounded number of steps. */
export class Agent {
  constructor({ log = () => {}, timeoutMs = 15000 } = {}) {
    this.jar = new CookieJar();
    this.log = log;
    this.timeoutMs = timeoutMs;
  }

  /** Sends one request without following redirects and returns { status, location, body, url }. */
  async request(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html,application/xhtml+xml' };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = new URL(url).origin;
    }
    const response = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    this.jar.store(response);
    const text = await response.text();
    const loc = response.headers.get('location');
    const location = loc ? new URL(loc, url).href : undefined;
    this.log(`${method} ${url} -> ${response.status}${location ? ' ' + location : ''}`);
    return { status: response.status, location, body: text, url: String(url), headers: response.headers };
  }
}

/** Builds the fields of a form submission: every field of the form plus the overrides and button. */
export function formData(form, overrides = {}, button) {
  const data = [];
  const seen = new Set();
  for (const f of form.fields) {
    if (Object.hasOwn(overrides, f.name)) {
      if (!seen.has(f.name)) data.push([f.name, overrides[f.name]]);
      seen.add(f.name);
      continue;
    }
    data.push([f.name, f.value]);
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (!seen.has(k)) data.push([k, v]);
  }
  if (button && button.name) data.push([button.name, button.value]);
  return data;
}

/** Returns a short, single-line excerpt of a page for error messages. */
export function excerpt(html, n = 600) {
  const text = html.replace(/<script[\s\S]*?<\/script>/gi, '').replace(/<style[\s\S]*?<\/style>/gi, '');
  return decodeEntities(text.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim().slice(0, n);
}

/**
 * Follows an authorization request through redirects, the connector chooser, the login form and
 * the consent page until the server redirects to a URL starting with `stopAt` (the client's
 * redirect_uri). Returns that final URL and the list of pages seen ("login", "consent", ...).
 */
export async function driveAuthorization(agent, startURL, { stopAt, username, password, connectorID, decision = 'allow', maxSteps = 25 }) {
  let next = { url: String(startURL), method: 'GET', form: undefined };
  const seen = [];
  for (let step = 0; step < maxSteps; step++) {
    if (next.url.startsWith(stopAt)) return { url: new URL(next.url), seen };
    const res = await agent.request(next.url, { method: next.method, form: next.form });
    if (res.status >= 300 && res.status < 400) {
      if (!res.location) throw new Error(`${res.status} from ${res.url} without a Location header`);
      next = { url: res.location, method: 'GET' };
      continue;
    }
    if (res.status !== 200) {
      throw new Error(`unexpected HTTP ${res.status} from ${res.url}: ${excerpt(res.body)}`);
    }
    const forms = parseForms(res.body);
    const resolve = (action) => new URL(action || res.url, res.url).href;

    const login = forms.find((f) => f.fields.some((x) => x.type === 'password'));
    if (login) {
      if (seen.includes('login') && seen[seen.length - 1] === 'login') {
        throw new Error(`login form shown again after submitting it (wrong password or broken flow?): ${excerpt(res.body)}`);
      }
      seen.push('login');
      if (login.method !== 'post') throw new Error(`login form method is ${login.method}, want post`);
      const userField = login.fields.find((x) => x.name === 'username');
      const passField = login.fields.find((x) => x.name === 'password');
      if (!userField || !passField) {
        throw new Error(`login form lacks username/password inputs: ${JSON.stringify(login.fields.map((x) => x.name))}`);
      }
      if (!login.fields.some((x) => x.name === 'csrf' && x.type === 'hidden' && x.value)) {
        throw new Error('login form has no hidden, non-empty "csrf" input');
      }
      const button = login.buttons.find((b) => /sign in/i.test(b.text)) || login.buttons[0];
      next = { url: resolve(login.action), method: 'POST', form: formData(login, { username, password }, button) };
      continue;
    }

    const consent = forms.find((f) => f.buttons.some((b) => b.name === 'decision'));
    if (consent) {
      seen.push('consent');
      if (consent.method !== 'post') throw new Error(`consent form method is ${consent.method}, want post`);
      const button = consent.buttons.find((b) => b.name === 'decision' && b.value === decision);
      if (!button) throw new Error(`consent form has no decision=${decision} button: ${JSON.stringify(consent.buttons)}`);
      if (consent.buttons[0] !== consent.buttons.find((b) => b.name === 'decision' && b.value === 'allow')) {
        throw new Error(`consent form: "Allow" is not the first button: ${JSON.stringify(consent.buttons)}`);
      }
      next = { url: resolve(consent.action), method: 'POST', form: formData(consent, {}, button) };
      continue;
    }

    // Connector chooser: a link or a form button per connector.
    const links = parseLinks(res.body);
    const link = links.find((l) => l.href.includes(`connector_id=${connectorID}`) || l.href.includes(`/${connectorID}`));
    if (link) {
      seen.push('chooser');
      next = { url: resolve(link.href), method: 'GET' };
      continue;
    }
    const chooser = forms.find((f) => f.buttons.some((b) => b.value === connectorID));
    if (chooser) {
      seen.push('chooser');
      const button = chooser.buttons.find((b) => b.value === connectorID);
      const data = formData(chooser, {}, button);
      if (chooser.method === 'post') next = { url: resolve(chooser.action), method: 'POST', form: data };
      else {
        const u = new URL(resolve(chooser.action));
        for (const [k, v] of data) u.searchParams.append(k, v);
        next = { url: u.href, method: 'GET' };
      }
      continue;
    }
    throw new Error(`page at ${res.url} is neither a login form, a consent form nor a connector chooser: ${excerpt(res.body)}`);
  }
  throw new Error(`authorization flow did not reach ${stopAt} within ${maxSteps} steps`);
}
