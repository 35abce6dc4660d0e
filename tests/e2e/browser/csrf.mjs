// Cross-site request forgery against a signed-in person. Run by tests/e2e/tests/browser.rs;
// settings in lib.mjs.
//
// The attacker's pages are served from 127.0.0.1 on another port: the SAME SITE as the Worker
// (so its SameSite=Lax session cookie IS sent along) but a different ORIGIN. That is exactly
// the case the CSRF rule beyond SameSite (Origin check and CSRF token) must stop.
//
// The person signs in and creates one token of their own (for the test to look from outside),
// then visits each attacker page in the same browser. Each page auto-submits a form (or fires
// a no-cors fetch) at the Worker. For each, the line reports the Worker's answer, the Origin
// the browser sent, and whether the session cookie went along.
//
// stdout: one line {"phase": "attacked", ...}.
// EDGEAUTH_BROWSER_ATTACK_NAME: the token name the forged requests ask for.

import { createServer } from 'node:http';
import { createTokenByKeyboard, emit, pageFetch, scenario, signIn, tokenRows } from './lib.mjs';

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The attacks: each an attacker page and the Worker path it posts to. */
function attacks(worker, name, leakedCsrf) {
  const json = JSON.stringify({ name, workspaces: ['*'] });
  // text/plain form trick: the body becomes {"name":"…","workspaces":["*"],"x":"="}.
  const textPlainField = `${json.slice(0, -1)},"x":"`;
  const form = (action, enctype, fields) =>
    `<form method="post" action="${escape(worker + action)}" enctype="${enctype}">${fields
      .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`)
      .join('')}</form><script>document.forms[0].submit()</script>`;
  return [
    {
      id: 'tokens-text-plain',
      target: '/api/tokens',
      what: 'form post, text/plain body shaped as JSON',
      html: form('/api/tokens', 'text/plain', [[textPlainField, '"}']]),
    },
    {
      id: 'tokens-urlencoded',
      target: '/api/tokens',
      what: 'form post, urlencoded, forged csrf_token',
      html: form('/api/tokens', 'application/x-www-form-urlencoded', [
        ['name', name],
        ['csrf_token', 'AAAAAAAAAAAAAAAAAAAAAA'],
      ]),
    },
    {
      id: 'tokens-urlencoded-leaked-csrf',
      target: '/api/tokens',
      what: "form post, urlencoded, the session's real csrf_token (leaked), foreign Origin",
      html: form('/api/tokens', 'application/x-www-form-urlencoded', [
        ['name', name],
        ['csrf_token', leakedCsrf],
      ]),
    },
    {
      id: 'tokens-no-cors-fetch',
      target: '/api/tokens',
      what: 'fetch, mode no-cors, credentials include, text/plain JSON body',
      // DevTools keeps neither the body nor the sent headers of an opaque response: only
      // its status is observed here (the request carries Origin and the cookie like a form).
      opaque: true,
      html: `<script>fetch(${JSON.stringify(worker + '/api/tokens')}, {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: ${JSON.stringify(json)}})</script>`,
    },
    {
      id: 'logout-urlencoded',
      target: '/api/auth/logout',
      what: 'form post to logout, no csrf_token',
      html: form('/api/auth/logout', 'application/x-www-form-urlencoded', [['x', '1']]),
    },
    {
      id: 'logout-leaked-csrf-no-referrer',
      target: '/api/auth/logout',
      what: "form post to logout with the real csrf_token from a no-referrer page (Origin: null)",
      referrerPolicy: 'no-referrer',
      html: form('/api/auth/logout', 'application/x-www-form-urlencoded', [['csrf_token', leakedCsrf]]),
    },
  ];
}

/** The error code in a JSON error body or on the HTML error page (#error-code). */
function errorCode(contentType, body) {
  if (contentType.startsWith('application/json')) {
    try {
      return JSON.parse(body).error ?? null;
    } catch {
      return null;
    }
  }
  const match = /id=["']?error-code["']?[^>]*>\s*([^<]*?)\s*</.exec(body);
  return match ? match[1] : null;
}

await scenario('csrf', async (run, cfg) => {
  const attackName = process.env.EDGEAUTH_BROWSER_ATTACK_NAME || 'forged-by-attacker';
  const page = await run.newPage();
  const observed = { phase: 'attacked', attack_name: attackName };
  observed.sign_in = await signIn(run, page, cfg);
  observed.own_token = await createTokenByKeyboard(run, page, process.env.EDGEAUTH_BROWSER_OWN_NAME || 'own-token');
  run.at('read the CSRF token the page carries (an attacker who somehow learnt it)');
  const leakedCsrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  observed.csrf_meta_present = !!leakedCsrf;

  run.at('list the tokens before');
  const before = await pageFetch(page, '/api/tokens');
  observed.before = { status: before.status, ids: (before.json?.tokens || []).map((t) => t.id) };
  observed.errors_before_attacks = run.diagnostics();

  const pages = attacks(cfg.base, attackName, leakedCsrf || '');
  const server = createServer((request, response) => {
    const attack = pages.find((a) => request.url === `/${a.id}`);
    if (request.url === '/favicon.ico') {
      response.writeHead(204).end(); // no console noise from the attacker's own pages
      return;
    }
    if (!attack) {
      response.writeHead(404).end();
      return;
    }
    const headers = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' };
    if (attack.referrerPolicy) headers['Referrer-Policy'] = attack.referrerPolicy;
    response.writeHead(200, headers).end(`<!doctype html><title>win a prize</title>${attack.html}`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const attacker = `http://127.0.0.1:${server.address().port}`;
  observed.attacker_origin = attacker;

  try {
    observed.attacks = [];
    for (const attack of pages) {
      run.at(`attack ${attack.id}`);
      const answered = page.waitForResponse(
        (r) => r.url() === cfg.base + attack.target && r.request().method() === 'POST',
      );
      await page.goto(`${attacker}/${attack.id}`, { waitUntil: 'commit' });
      const response = await answered;
      const record = { id: attack.id, what: attack.what, target: attack.target, opaque: !!attack.opaque, status: response.status() };
      if (!attack.opaque) {
        const sent = await response.request().allHeaders();
        const contentType = (await response.headerValue('content-type')) || '';
        const body = await response.text().catch((error) => `(body unavailable: ${error})`);
        Object.assign(record, {
          content_type: contentType,
          error: errorCode(contentType, body),
          origin_sent: sent.origin ?? null,
          sec_fetch_site: sent['sec-fetch-site'] ?? null,
          session_cookie_sent: /(^|;\s*)edgeauth_session=/.test(sent.cookie || ''),
          set_cookie: (await response.headerValue('set-cookie')) !== null,
        });
      }
      await page.waitForLoadState('load').catch(() => {});
      observed.attacks.push(record);
    }
  } finally {
    server.close();
  }

  run.at('back on /account after the attacks');
  await page.goto(`${cfg.base}/account`);
  observed.after = {
    identity_visible: await page.locator('#identity').isVisible(),
    rows: await tokenRows(page),
  };
  const after = await pageFetch(page, '/api/tokens');
  observed.after.status = after.status;
  observed.after.ids = (after.json?.tokens || []).map((t) => t.id);
  observed.after.names = (after.json?.tokens || []).map((t) => t.name);
  observed.after.users_me_status = (await pageFetch(page, '/api/users/me')).status;
  Object.assign(observed, run.diagnostics(), { navigations: run.navigations });
  emit(observed);
});
