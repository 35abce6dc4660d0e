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
//
// Nothing is persisted: sessions, codes and grants live in memory and die with the process.
// Prints `idp ready on http://127.0.0.1:PORT` once listening; SIGTERM/SIGINT close it cleanly.

import { createServer } from 'node:http';
import { createHash, generateKeyPairSync, createPrivateKey, randomBytes, timingSafeEqual } from 'node:crypto';
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
  const jwk = key.export({ format: 'jwk' });
  // kid: the RFC 7638 thumbprint of the public key, so a loaded key keeps its kid.
  const thumb = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  const kid = createHash('sha256').update(thumb).digest('base64url');
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

// --- users ------------------------------------------------------------------------------
const USERS = {
  demo: {
    password: 'demo-password',
    claims: { email: 'demo@example.test', email_verified: true, name: 'Demo User', groups: ['edgeauth-team'] },
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
const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: clientSecret,
    client_name: 'edgeauth (local development)',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // oidc-provider accepts client_secret_post as well for a client registered with
    // client_secret_basic (both are "client secret" methods, see shared/client_auth.js).
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingJwk()] },
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
    Grant: 3600,
    DeviceCode: 600,
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  clientBasedCORS: () => false,
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<h1>Error</h1><p>${esc(out.error)}${out.error_description ? `: ${esc(out.error_description)}` : ''}</p>`);
  },
};

const provider = new Provider(issuer, configuration);
// Mutual-TLS-free loopback over plain http: nothing to proxy, never trust X-Forwarded-*.
provider.proxy = false;

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
<p class="hint">Users: demo / demo-password, outsider / outsider-password, unverified / unverified-password</p>`);
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
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
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
});

server.on('error', (e) => fail(`cannot listen on ${HOST}:${port}: ${e.message}`));
server.listen(port, HOST, () => {
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
