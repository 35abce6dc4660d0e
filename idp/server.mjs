// The local OpenID provider for edgeauth's development and tests: a real, certified OP (npm
// `oidc-provider` 9.x) on 127.0.0.1 only, with one client (`edgeauth-local`), three in-memory
// users, its own minimal login page and automatic consent for that client.
//
//   EDGEAUTH_IDP_CLIENT_SECRET=... EDGEAUTH_IDP_REDIRECT_URIS=http://127.0.0.1:8787/api/auth/callback \
//     node idp/server.mjs
//
// Environment (see idp/README.md):
//   EDGEAUTH_IDP_PORT           port on 127.0.0.1 (default 8788); issuer is http://127.0.0.1:PORT
//   EDGEAUTH_IDP_CLIENT_SECRET  the client secret of `edgeauth-local` (required)
//   EDGEAUTH_IDP_REDIRECT_URIS  comma-separated redirect URIs of `edgeauth-local` (required)
//   EDGEAUTH_IDP_KEY_FILE       optional PEM RSA private key (PKCS#8 or PKCS#1) for signing; without
//                               it a fresh 2048-bit key is generated at every start
//   EDGEAUTH_IDP_QUIET          `1`: no per-request log lines
//   EDGEAUTH_IDP_TEST_HOOKS     `1`: serve the test-only endpoints under /__test/ (ID-token
//                               tampering, key rotation and faults, for the end-to-end tests; never in
//                               development: scripts/test sets it, scripts/dev never does)
//
// Nothing is persisted: sessions, codes and grants live in memory and die with the process.
// Prints `idp ready on http://127.0.0.1:PORT` once listening; SIGTERM/SIGINT close it cleanly.

import { createServer } from 'node:http';
import {
  createHash, createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const HOST = '127.0.0.1';
const CLIENT_ID = 'edgeauth-local';

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

// --- settings ---------------------------------------------------------------------------
const portText = process.env.EDGEAUTH_IDP_PORT || '8788';
if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
  fail(`EDGEAUTH_IDP_PORT must be a TCP port number (1-65535), got ${JSON.stringify(portText)}`);
}
const port = Number(portText);
const issuer = `http://${HOST}:${port}`;

const clientSecret = process.env.EDGEAUTH_IDP_CLIENT_SECRET || '';
if (!clientSecret) fail('EDGEAUTH_IDP_CLIENT_SECRET is required (the secret of client edgeauth-local)');
if (clientSecret.length < 16) fail('EDGEAUTH_IDP_CLIENT_SECRET must be at least 16 characters');

const redirectUris = (process.env.EDGEAUTH_IDP_REDIRECT_URIS || '')
  .split(',').map((s) => s.trim()).filter(Boolean);
if (redirectUris.length === 0) {
  fail('EDGEAUTH_IDP_REDIRECT_URIS is required: comma-separated, e.g. http://127.0.0.1:8787/api/auth/callback');
}
for (const uri of redirectUris) {
  let u;
  try { u = new URL(uri); } catch { fail(`EDGEAUTH_IDP_REDIRECT_URIS: not a URL: ${uri}`); }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`EDGEAUTH_IDP_REDIRECT_URIS: not http(s): ${uri}`);
  if (u.hash) fail(`EDGEAUTH_IDP_REDIRECT_URIS: must not have a #fragment: ${uri}`);
}

// --- signing key ------------------------------------------------------------------------
function signingJwk() {
  const file = process.env.EDGEAUTH_IDP_KEY_FILE;
  let key;
  if (file) {
    try {
      key = createPrivateKey(readFileSync(file));
    } catch (e) {
      fail(`EDGEAUTH_IDP_KEY_FILE: cannot read a private key from ${file}: ${e.message}`);
    }
    if (key.asymmetricKeyType !== 'rsa') fail(`EDGEAUTH_IDP_KEY_FILE: ${file} is not an RSA key`);
  } else {
    ({ privateKey: key } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
  }
  return rsaJwk(key);
}

// A private RSA key as a JWK with alg RS256; kid: the RFC 7638 thumbprint of the public key,
// so a loaded key keeps its kid.
function rsaJwk(key) {
  const jwk = key.export({ format: 'jwk' });
  const thumb = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  const kid = createHash('sha256').update(thumb).digest('base64url');
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

function newRsaJwk() {
  return rsaJwk(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
}

function publicJwk({ kty, n, e, kid, alg, use }) {
  return { kty, n, e, kid, alg, use };
}

// --- users ------------------------------------------------------------------------------
const USERS = {
  demo: {
    password: 'demo-password',
    claims: { email: 'demo@example.test', email_verified: true, name: 'Demo User', groups: ['edgeauth-team'] },
  },
  member: {
    password: 'member-password',
    claims: { email: 'member@example.test', email_verified: true, name: 'Member User', groups: ['edgeauth-members'] },
  },
  outsider: {
    password: 'outsider-password',
    claims: { email: 'outsider@example.test', email_verified: true, name: 'Outsider User', groups: ['other-team'] },
  },
  unverified: {
    password: 'unverified-password',
    claims: { email: 'unverified@example.test', email_verified: false, name: 'Unverified User', groups: ['edgeauth-team'] },
  },
};

function sha256(s) {
  return createHash('sha256').update(String(s)).digest();
}

// Constant-time over the password; the username lookup is not secret.
function checkPassword(username, password) {
  const user = Object.hasOwn(USERS, username) ? USERS[username] : null;
  const ok = timingSafeEqual(sha256(user ? user.password : 'x'), sha256(password));
  return user && ok ? username : null;
}

async function findAccount(_ctx, id) {
  if (!Object.hasOwn(USERS, id)) return undefined;
  const { claims } = USERS[id];
  return {
    accountId: id,
    async claims() {
      return { sub: id, preferred_username: id, ...claims, groups: [...claims.groups] };
    },
  };
}

// --- the provider -----------------------------------------------------------------------
const currentKey = signingJwk();
const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: clientSecret,
    client_name: 'edgeauth (local development)',
    redirect_uris: redirectUris,
    // Where signing out of edgeauth comes back to after ending the session here (OIDC
    // RP-Initiated Logout): each instance's /account, beside its callback.
    post_logout_redirect_uris: redirectUris.map((uri) => uri.replace(/\/api\/auth\/callback$/, '/account')),
    // Refresh tokens, as a provider gives them with `offline_access`: edgeauth keeps the latest
    // (sealed) and asks again for the person's teams when a device login refreshes.
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // oidc-provider accepts client_secret_post as well for a client registered with
    // client_secret_basic (both are "client secret" methods, see shared/client_auth.js).
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [currentKey] },
  findAccount,
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the scope-granted claims (email, name, groups) into the ID token itself, not only the
  // userinfo response, so that a relying party can read teams from the ID token.
  conformIdTokenClaims: false,
  responseTypes: ['code'], // nothing implicit or hybrid is offered
  pkce: { required: () => true }, // and only S256 exists in oidc-provider 9
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
    DeviceCode: 600,
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
    // RP-Initiated Logout (end_session_endpoint /session/end): signing out of edgeauth ends the
    // session here too, after the person confirms, so that the next sign-in may be someone else.
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out', `<h1>Sign out of the local identity provider?</h1>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out of the local identity provider.</p>');
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // A refresh token with every code (no `offline_access` round of consent needed here), and
  // rotated at every use, as strict providers do, so that edgeauth's handling of rotation runs.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  clientBasedCORS: () => false,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><p>${esc(out.error)}${out.error_description ? `: ${esc(out.error_description)}` : ''}</p>`);
  },
};

const provider = new Provider(issuer, configuration);
// Mutual-TLS-free loopback over plain http: nothing to proxy, never trust X-Forwarded-*.
provider.proxy = false;

// --- test hooks (EDGEAUTH_IDP_TEST_HOOKS=1 only) ---------------------------------------------
// They let the end-to-end tests make the provider misbehave the way a broken or hostile one
// would: an ID token with a patched payload or a forged signature, and a signing key the
// relying party has not seen yet. Off unless asked for, and never started by scripts/dev.
const testHooks = process.env.EDGEAUTH_IDP_TEST_HOOKS === '1';
const TAMPER_TTL_MS = 10 * 60 * 1000;
const tampers = new Map(); // authorization code -> { spec, until }
const rotatedKeys = new Map(); // kid -> private JWK, published in the JWKS after rotation
let foreignKey; // never published
// How the provider answers everything but /__test/: `off` (normally), `down` (the connection
// is dropped unanswered), `slow` (an answer only after SLOW_MS, past the relying party's
// timeout) or `garbage` (200 with a body that is not JSON).
const FAULT_MODES = ['off', 'down', 'slow', 'garbage'];
const SLOW_MS = 15_000;
let fault = 'off';

// Answers a request as the current fault says; true when it was answered (or dropped).
function misbehave(req, res, then) {
  if (fault === 'down') {
    req.socket.destroy();
    return true;
  }
  if (fault === 'garbage') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('<html><body>502 Bad Gateway (a proxy in front of the provider)</body></html>');
    return true;
  }
  if (fault === 'slow') {
    setTimeout(then, SLOW_MS).unref();
    return true;
  }
  return false;
}

function b64json(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

class BadRequest extends Error {}

// The ID token `spec` asks for, made from the real one: its header and payload with
// `spec.claims` merged in (null deletes), then signed as `spec.alg`/`spec.key` say.
function tamperedIdToken(real, spec) {
  const [h, p, signature] = real.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  for (const [claim, value] of Object.entries(spec.claims || {})) {
    if (value === null) delete payload[claim];
    else payload[claim] = value;
  }
  const alg = spec.alg || 'RS256';
  const keyName = spec.key || 'current';
  if (spec.keep_signature) {
    // The payload changed under the provider's own, now wrong, signature.
    return `${h}.${b64json(payload)}.${signature}`;
  }
  let jwk;
  if (alg === 'none') {
    delete header.kid;
  } else if (alg === 'HS256') {
    delete header.kid; // a symmetric key has no kid in the JWKS
  } else if (keyName === 'current') {
    jwk = currentKey;
    header.kid = jwk.kid;
  } else if (keyName === 'foreign') {
    foreignKey ||= newRsaJwk();
    jwk = foreignKey;
    header.kid = jwk.kid;
  } else if (rotatedKeys.has(keyName)) {
    jwk = rotatedKeys.get(keyName);
    header.kid = jwk.kid;
  } else {
    throw new BadRequest(`unknown key ${JSON.stringify(keyName)}: use current, foreign or a kid from /__test/rotate`);
  }
  header.alg = alg;
  if (Object.hasOwn(spec, 'kid')) {
    if (spec.kid === null) delete header.kid;
    else header.kid = spec.kid;
  }
  const input = `${b64json(header)}.${b64json(payload)}`;
  if (alg === 'none') return `${input}.`;
  if (alg === 'HS256') {
    return `${input}.${createHmac('sha256', clientSecret).update(input).digest('base64url')}`;
  }
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function checkTamperSpec(spec) {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new BadRequest('body must be a JSON object');
  if (typeof spec.code !== 'string' || !spec.code) throw new BadRequest('code (the authorization code) is required');
  if (spec.claims !== undefined && (typeof spec.claims !== 'object' || spec.claims === null || Array.isArray(spec.claims))) {
    throw new BadRequest('claims must be an object');
  }
  if (spec.alg !== undefined && !['RS256', 'none', 'HS256'].includes(spec.alg)) {
    throw new BadRequest('alg must be RS256, none or HS256');
  }
  if (spec.key !== undefined && typeof spec.key !== 'string') throw new BadRequest('key must be a string');
  if (spec.kid !== undefined && spec.kid !== null && typeof spec.kid !== 'string') throw new BadRequest('kid must be a string or null');
  if (spec.key && !['current', 'foreign'].includes(spec.key) && !rotatedKeys.has(spec.key)) {
    throw new BadRequest(`unknown key ${JSON.stringify(spec.key)}: use current, foreign or a kid from /__test/rotate`);
  }
}

async function readJson(req) {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString('utf8') || 'null');
  } catch {
    throw new BadRequest('body is not JSON');
  }
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(value));
}

async function testHook(req, res, path) {
  try {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
    if (path === '/__test/tamper') {
      const spec = await readJson(req);
      checkTamperSpec(spec);
      const now = Date.now();
      for (const [code, { until }] of tampers) if (until < now) tampers.delete(code);
      tampers.set(spec.code, { spec, until: now + TAMPER_TTL_MS });
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/__test/fault') {
      const spec = await readJson(req);
      if (!spec || !FAULT_MODES.includes(spec.mode)) {
        throw new BadRequest(`mode must be one of ${FAULT_MODES.join(', ')}`);
      }
      fault = spec.mode;
      return sendJson(res, 200, { mode: fault });
    }
    if (path === '/__test/account') {
      const spec = await readJson(req);
      const name = spec && spec.username;
      if (typeof name !== 'string' || !/^[a-z0-9-]{1,64}$/.test(name) || ['demo', 'member', 'outsider', 'unverified'].includes(name)) {
        throw new BadRequest('username must be 1 to 64 of a-z, 0-9, - and not a built-in user');
      }
      if (!Array.isArray(spec.groups) || !spec.groups.every((g) => typeof g === 'string')) {
        throw new BadRequest('groups must be an array of strings');
      }
      const known = Object.hasOwn(USERS, name);
      USERS[name] = {
        password: `${name}-password`,
        claims: { email: `${name}@example.test`, email_verified: true, name: `Person ${name}`, groups: [...spec.groups] },
      };
      return sendJson(res, 200, { username: name, created: !known });
    }
    if (path === '/__test/rotate') {
      const jwk = newRsaJwk();
      rotatedKeys.set(jwk.kid, jwk);
      return sendJson(res, 200, { kid: jwk.kid });
    }
    return sendJson(res, 404, { error: `no test hook ${path}` });
  } catch (e) {
    return sendJson(res, e instanceof BadRequest ? 400 : 500, { error: e.message });
  }
}

if (testHooks) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body && typeof ctx.body.id_token === 'string') {
      const code = ctx.oidc?.params?.code ?? ctx.oidc?.body?.code;
      const entry = typeof code === 'string' ? tampers.get(code) : undefined;
      if (entry) {
        tampers.delete(code); // one shot
        // A tampered ID token stands for someone the provider's account is not (another `sub`,
        // other teams): its refresh token, which would renew the real account, is left out.
        const { refresh_token: _dropped, ...rest } = ctx.body;
        ctx.body = { ...rest, id_token: tamperedIdToken(ctx.body.id_token, entry.spec) };
      }
    } else if (ctx.path === '/jwks' && ctx.status === 200 && ctx.body && Array.isArray(ctx.body.keys)) {
      ctx.body = { keys: [...ctx.body.keys, ...[...rotatedKeys.values()].map(publicJwk)] };
    }
  });
}

// --- HTML ---------------------------------------------------------------------------------
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.75rem 0 .25rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}.hint{color:#555;font-size:.9rem}</style>
</head><body>${body}</body></html>`;
}

function loginPage(uid, clientName, error) {
  return page('Sign in — edgeauth local IdP', `<h1>Sign in</h1>
<p>to <strong>${esc(clientName)}</strong> (local identity provider)</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" id="cancel">Cancel</button></form>
<p class="hint">Users: demo / demo-password, member / member-password, outsider / outsider-password, unverified / unverified-password</p>`);
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://127.0.0.1:*; frame-ancestors 'none'",
  });
  res.end(html);
}

async function readForm(req) {
  return new URLSearchParams((await readBody(req)).toString('utf8'));
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new BadRequest('body too large (over 16 KiB)');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// --- interactions (login and consent) -----------------------------------------------------
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', '<p>Interaction mismatch.</p>'));
  const { prompt, params, session } = details;
  const client = await provider.Client.find(params.client_id);
  const clientName = client?.clientName || params.client_id;

  if (action === 'abort' && req.method === 'POST') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'the user cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'login') {
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const accountId = checkPassword(form.get('username') || '', form.get('password') || '');
      if (!accountId) return send(res, 200, loginPage(uid, clientName, 'Wrong username or password.'));
      return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    }
    if (action === '' && req.method === 'GET') return send(res, 200, loginPage(uid, clientName));
  }

  if (prompt.name === 'consent' && action === '' && req.method === 'GET') {
    // Consent is granted automatically for edgeauth's own client and for nobody else.
    if (params.client_id !== CLIENT_ID) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'only edgeauth-local may use this provider',
      }, { mergeWithLastSubmission: false });
    }
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  return send(res, 400, page('Error', '<p>Unexpected step for this sign-in. Start again from the application.</p>'));
}

const oidc = provider.callback();
const quiet = process.env.EDGEAUTH_IDP_QUIET === '1';

const server = createServer(async (req, res) => {
  const path = (req.url || '/').split('?')[0];
  if (!quiet) res.on('finish', () => process.stdout.write(`idp: ${req.method} ${path} ${res.statusCode}\n`));
  if (testHooks && path.startsWith('/__test/')) return testHook(req, res, path);
  // A slow answer whose client gave up meanwhile is never routed.
  const late = () => req.socket.destroyed || route(req, res, path).catch(() => {});
  if (testHooks && misbehave(req, res, late)) return;
  return route(req, res, path);
});

async function route(req, res, path) {
  const m = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|abort))?\/?$/.exec(path);
  if (!m) return oidc(req, res);
  try {
    await interaction(req, res, m[1], m[2] || '');
  } catch (e) {
    // SessionNotFound (expired or foreign interaction cookie) and the like.
    if (!res.headersSent) {
      send(res, 400, page('Error', `<p>${esc(e.error_description || e.message)}</p><p>Start the sign-in again from the application.</p>`));
    }
  }
}

server.on('error', (e) => fail(`cannot listen on ${HOST}:${port}: ${e.message}`));
server.listen(port, HOST, () => {
  if (testHooks) process.stdout.write('idp: TEST HOOKS ON (/__test/tamper, /__test/rotate, /__test/fault, /__test/account): for tests only\n');
  process.stdout.write(`idp ready on ${issuer}\n`);
});

function shutdown(signal) {
  process.stdout.write(`idp: ${signal}, shutting down\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
