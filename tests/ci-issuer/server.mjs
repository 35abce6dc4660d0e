// A local CI platform's OIDC issuer, for the end-to-end tests of trust policies and the token
// exchange (scripts/test starts it; tests/e2e/tests/trust.rs uses it). It signs ID tokens shaped
// like GitHub Actions' on request, and answers as GitHub's runner endpoint does, so that
// `edgeauth login --ci` runs end to end with the environment GitHub Actions sets.
//
// Environment: EDGEAUTH_CI_ISSUER_PORT (0 or unset: any free port), EDGEAUTH_CI_REQUEST_TOKEN
// (the bearer the runner endpoint wants; default `ci-request-token`). Binds 127.0.0.1 only;
// prints one line `listening http://127.0.0.1:PORT`; stops on SIGTERM. The issuer is that URL.
//
// Endpoints:
//   GET  /.well-known/openid-configuration   {issuer, jwks_uri}
//   GET  /.well-known/jwks                    the published keys (RS256 and ES256)
//   POST /__token  {audience, claims?, alg?, key?, kid?, tamper?}
//        -> {"token"}: GitHub-shaped claims (repository octo-org/octo-repo, ref refs/heads/main,
//        a fresh jti, iat/nbf now, exp in 5 min), `claims` merged in (null deletes). `alg`:
//        RS256 (default), ES256, HS256 (signed with a shared secret nobody published) or none;
//        `key`: "unpublished" signs with a key the JWKS does not list, a kid from /__rotate
//        with that key; `kid` overrides the
//        header's; `tamper`: change the payload after signing.
//   POST /__rotate  -> {"kid"}: a new RSA key, published from then on beside the others; tokens
//        are signed with it only when `key` names its kid (so that other tests' tokens keep a
//        key the Worker knows).
//   GET  /__stats   -> {"jwks_fetches"}: how many times the JWKS was fetched since the start.
//   GET  /actions?audience=A   with `Authorization: bearer <request token>`: {"value": ID token}
//        for audience A, as GitHub's ACTIONS_ID_TOKEN_REQUEST_URL answers; claims set with
//        POST /__actions-claims {claims} apply to the next ones.

import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { SignJWT, exportJWK, generateKeyPair, UnsecuredJWT } from "jose";

const env = process.env;
const requestToken = env.EDGEAUTH_CI_REQUEST_TOKEN || "ci-request-token";
let issuer = "";
let jwksFetches = 0;

async function rsaKey() {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { alg: "RS256", kid: `rsa-${randomUUID().slice(0, 8)}`, privateKey, publicKey };
}
async function ecKey() {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { alg: "ES256", kid: `ec-${randomUUID().slice(0, 8)}`, privateKey, publicKey };
}

const rsa = await rsaKey();
const ec = await ecKey();
const rotated = new Map();
const unpublished = await rsaKey();
let actionsClaims = {};

async function jwks() {
  const keys = [];
  for (const key of [rsa, ec, ...rotated.values()]) {
    keys.push({ ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: "sig" });
  }
  return { keys };
}

function defaultClaims(audience) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: audience,
    sub: "repo:octo-org/octo-repo:ref:refs/heads/main",
    repository: "octo-org/octo-repo",
    repository_owner: "octo-org",
    repository_id: "123456",
    ref: "refs/heads/main",
    ref_type: "branch",
    run_id: "4242",
    run_attempt: "1",
    workflow: "deploy",
    job_workflow_ref: "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main",
    event_name: "push",
    jti: randomUUID(),
    iat: now,
    nbf: now,
    exp: now + 300,
  };
}

function merged(base, overrides) {
  const claims = { ...base };
  for (const [name, value] of Object.entries(overrides || {})) {
    if (value === null) delete claims[name];
    else claims[name] = value;
  }
  return claims;
}

async function sign(claims, { alg = "RS256", key, kid, tamper } = {}) {
  let token;
  if (alg === "none") {
    token = new UnsecuredJWT(claims).encode();
  } else if (alg === "HS256") {
    const secret = new TextEncoder().encode("a secret no JWKS publishes, 32 bytes!");
    token = await new SignJWT(claims).setProtectedHeader({ alg, kid: kid ?? rsa.kid, typ: "JWT" }).sign(secret);
  } else {
    const signer = key === "unpublished" ? unpublished : rotated.get(key) ?? (alg === "ES256" ? ec : rsa);
    token = await new SignJWT(claims)
      .setProtectedHeader({ alg: signer.alg, kid: kid ?? signer.kid, typ: "JWT" })
      .sign(signer.privateKey);
  }
  if (tamper) {
    const [header, payload, signature] = token.split(".");
    const body = JSON.parse(Buffer.from(payload, "base64url").toString());
    body.repository = "evil-org/evil-repo";
    token = [header, Buffer.from(JSON.stringify(body)).toString("base64url"), signature].join(".");
  }
  return token;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString() || "{}";
  return JSON.parse(text);
}

function send(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, { issuer, jwks_uri: `${issuer}/.well-known/jwks`, id_token_signing_alg_values_supported: ["RS256", "ES256"] });
    }
    if (req.method === "GET" && url.pathname === "/.well-known/jwks") {
      jwksFetches += 1;
      return send(res, 200, await jwks());
    }
    if (req.method === "POST" && url.pathname === "/__token") {
      const spec = await readJson(req);
      if (!spec.audience) return send(res, 400, { error: "audience is required" });
      const claims = merged(defaultClaims(spec.audience), spec.claims);
      return send(res, 200, { token: await sign(claims, spec) });
    }
    if (req.method === "GET" && url.pathname === "/__stats") {
      return send(res, 200, { jwks_fetches: jwksFetches });
    }
    if (req.method === "POST" && url.pathname === "/__rotate") {
      const key = await rsaKey();
      rotated.set(key.kid, key);
      return send(res, 200, { kid: key.kid });
    }
    if (req.method === "POST" && url.pathname === "/__actions-claims") {
      actionsClaims = (await readJson(req)).claims || {};
      return send(res, 200, {});
    }
    if (req.method === "GET" && url.pathname === "/actions") {
      if (req.headers.authorization !== `bearer ${requestToken}` && req.headers.authorization !== `Bearer ${requestToken}`) {
        return send(res, 401, { message: "Bad credentials" });
      }
      const audience = url.searchParams.get("audience");
      if (!audience) return send(res, 400, { message: "audience is required" });
      const claims = merged(defaultClaims(audience), actionsClaims);
      return send(res, 200, { count: 2000, value: await sign(claims) });
    }
    send(res, 404, { error: "not found" });
  } catch (error) {
    send(res, 500, { error: String(error) });
  }
});

server.listen(Number(env.EDGEAUTH_CI_ISSUER_PORT || 0), "127.0.0.1", () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening ${issuer}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
