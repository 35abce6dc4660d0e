// The test origin: the API behind edgeauth's gateway in the end-to-end tests (scripts/test
// starts it; tests/e2e/tests/gateway.rs talks to it through MAIN and directly).
//
// It does what an API owner's origin should: every request (a WebSocket upgrade included) must
// carry an `Edgeauth-Assertion` that verifies, with the standard library `jose`, against
// edgeauth's JWKS: EdDSA, `typ` `edgeauth-assertion+jwt`, the configured issuer and audience,
// fresh. Anything else is 401 `{"origin": "refused", "reason"}`, so a test can tell the origin's
// refusal from edgeauth's. Then it echoes what it saw.
//
// Environment: EDGEAUTH_ORIGIN_PORT (0 or unset: any free port), EDGEAUTH_ORIGIN_JWKS (the JWKS
// URL), EDGEAUTH_ORIGIN_ISSUER, EDGEAUTH_ORIGIN_AUDIENCE, EDGEAUTH_ORIGIN_JWKS_MAX_AGE_MS (how
// long jose keeps the JWKS; default jose's). Binds 127.0.0.1 only; prints one line
// `listening http://127.0.0.1:PORT`; stops on SIGTERM. Endpoints: see tests/origin/README.md.

import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { WebSocketServer } from "ws";

const env = process.env;
const jwksUrl = new URL(env.EDGEAUTH_ORIGIN_JWKS ?? fail("EDGEAUTH_ORIGIN_JWKS"));
const issuer = env.EDGEAUTH_ORIGIN_ISSUER ?? fail("EDGEAUTH_ORIGIN_ISSUER");
const audience = env.EDGEAUTH_ORIGIN_AUDIENCE ?? fail("EDGEAUTH_ORIGIN_AUDIENCE");
const maxAge = env.EDGEAUTH_ORIGIN_JWKS_MAX_AGE_MS ? Number(env.EDGEAUTH_ORIGIN_JWKS_MAX_AGE_MS) : undefined;

function fail(name) {
  console.error(`tests/origin: set ${name}`);
  process.exit(2);
}

const stats = { requests: 0, refused: 0, jwks_fetches: 0, kids_seen: [] };

// jose fetches through the global fetch: count the JWKS fetches by wrapping it for that URL.
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  if (String(input instanceof Request ? input.url : input) === jwksUrl.href) stats.jwks_fetches++;
  return realFetch(input, init);
};
const jwks = createRemoteJWKSet(jwksUrl, maxAge === undefined ? {} : { cacheMaxAge: maxAge });

const assertionOptions = {
  issuer,
  audience,
  algorithms: ["EdDSA"],
  typ: "edgeauth-assertion+jwt",
  maxTokenAge: "5m",
  clockTolerance: "30s",
};

/** The verified claims of the request's assertion, or throws with a reason. */
async function verifyAssertion(headers) {
  const assertion = headers["edgeauth-assertion"];
  if (!assertion) throw Object.assign(new Error("missing"), { code: "missing" });
  const { payload } = await jwtVerify(assertion, jwks, assertionOptions);
  const { kid } = decodeProtectedHeader(assertion);
  if (kid && !stats.kids_seen.includes(kid)) stats.kids_seen.push(kid);
  return payload;
}

/** The request's headers as the echo shows them: `authorization` only by its hash, so no
 * response of the origin ever carries a credential. */
function shownHeaders(headers) {
  const shown = { ...headers };
  if (shown.authorization !== undefined) {
    shown.authorization = `sha256:${createHash("sha256").update(shown.authorization).digest("hex")}`;
  }
  return shown;
}

function json(res, status, body, extra = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...extra });
  res.end(text);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function handle(req, res) {
  const url = new URL(req.url, "http://origin");
  if (url.pathname === "/__origin/stats") return json(res, 200, stats);
  if (url.pathname === "/__origin/verify-access-token") return verifyAccessToken(req, res);
  stats.requests++;
  let identity;
  try {
    identity = await verifyAssertion(req.headers);
  } catch (e) {
    stats.refused++;
    req.resume();
    return json(res, 401, { origin: "refused", reason: e.code ?? String(e.message) });
  }
  const path = url.pathname;
  if (path.startsWith("/echo")) {
    // Hash the body as it streams: never held whole, so a 100 MB upload keeps memory flat.
    const hash = createHash("sha256");
    let bytes = 0;
    for await (const chunk of req) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    return json(res, 200, {
      method: req.method,
      path,
      query: url.search,
      headers: shownHeaders(req.headers),
      identity,
      body_bytes: bytes,
      body_sha256: hash.digest("hex"),
    });
  }
  req.resume();
  const status = path.match(/^\/status\/(\d{3})$/);
  if (status) {
    const code = Number(status[1]);
    return json(res, code, { origin: "status", code }, { "origin-status": String(code) });
  }
  if (path === "/slow") {
    await sleep(Number(url.searchParams.get("ms") ?? 1000));
    return json(res, 200, { origin: "slow" });
  }
  if (path === "/sse") {
    const n = Number(url.searchParams.get("n") ?? 3);
    const interval = Number(url.searchParams.get("interval_ms") ?? 200);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    for (let seq = 0; seq < n; seq++) {
      if (seq > 0) await sleep(interval);
      res.write(`data: ${JSON.stringify({ seq, at_ms: Date.now() })}\n\n`);
    }
    return res.end();
  }
  if (path === "/download") {
    const total = Number(url.searchParams.get("bytes") ?? 1024);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
    const block = Buffer.alloc(64 * 1024, "edgeauth");
    let left = total;
    while (left > 0) {
      const chunk = left >= block.length ? block : block.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve));
    }
    return res.end();
  }
  return json(res, 404, { origin: "not_found", path });
}

/** POST {"token": "eaa_…"}: an access token verified offline against the same JWKS, as any
 * resource server would (RFC 9068). */
async function verifyAccessToken(req, res) {
  let body = "";
  for await (const chunk of req) body += chunk;
  try {
    const token = String(JSON.parse(body).token ?? "");
    if (!token.startsWith("eaa_")) throw new Error("not an access token");
    const { payload } = await jwtVerify(token.slice(4), jwks, {
      issuer,
      algorithms: ["EdDSA"],
      typ: "at+jwt",
    });
    return json(res, 200, { claims: payload });
  } catch (e) {
    return json(res, 401, { origin: "refused", reason: e.code ?? String(e.message) });
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) json(res, 500, { origin: "error" });
    else res.destroy();
  });
});

// WebSockets: verified at the upgrade; the first offered subprotocol is selected.
const sockets = new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) => (protocols.size > 0 ? [...protocols][0] : false),
});
server.on("upgrade", async (req, socket, head) => {
  stats.requests++;
  let identity;
  try {
    identity = await verifyAssertion(req.headers);
  } catch (e) {
    stats.refused++;
    socket.end("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
      + JSON.stringify({ origin: "refused", reason: e.code ?? String(e.message) }));
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => {
    ws.send(JSON.stringify({
      identity,
      offered: req.headers["sec-websocket-protocol"] ?? null,
      selected: ws.protocol || null,
    }));
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

server.listen(Number(env.EDGEAUTH_ORIGIN_PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close();
  for (const ws of sockets.clients) ws.terminate();
  process.exit(0);
});
