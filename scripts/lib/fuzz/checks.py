"""schemathesis checks of our own, loaded by scripts/fuzz (SCHEMATHESIS_HOOKS).

no_secret_echoed: no response (body or headers) may carry a secret: the credentials the
fuzzer holds (super token, service token, user token, access and refresh tokens, session
cookie; not the CSRF token, which the session's own pages show), the instance's SECRET and OIDC client secret (one per line in the file
named by EDGEAUTH_FUZZ_SECRETS), nor the credential the request itself presented
(`Authorization: Bearer …`, the `edgeauth_session` cookie), whatever the fuzzer generated.
A token minted by the request itself (the 201 of a creation) is not a presented secret.
"""

import os

import schemathesis

# Every credential edgeauth issues is longer (tokens 75 characters, cookies over 40). A shorter
# presented value is generated junk, which an earlier request of the run may have stored on
# purpose (a trust policy's name, a claim pattern) and a listing then rightly shows.
MIN_PRESENTED_LEN = 20


def _known_secrets():
    path = os.environ["EDGEAUTH_FUZZ_SECRETS"]
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


KNOWN_SECRETS = _known_secrets()


def _presented(request_headers):
    """The credentials a request presented: its bearer token and its session cookie."""
    found = []
    authorization = request_headers.get("Authorization") or ""
    if authorization[:7].lower() == "bearer ":
        found.append(authorization[7:].strip())
    for pair in (request_headers.get("Cookie") or "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name.endswith("edgeauth_session") or name.endswith("edgeauth_login"):
            found.append(value.strip())
    return [value for value in found if len(value) >= MIN_PRESENTED_LEN]


@schemathesis.check
def no_secret_echoed(ctx, response, case):
    """No response echoes a presented credential, a held token, SECRET or the OIDC client secret."""
    secrets = KNOWN_SECRETS + _presented(response.request.headers)
    places = [("body", response.content)] + [
        (f"header {name}", value.encode("utf-8", "replace"))
        for name, values in response.headers.items()
        for value in values
    ]
    for secret in secrets:
        needle = secret.encode("utf-8", "replace")
        for place, data in places:
            if needle in data:
                raise AssertionError(
                    f"the response {place} echoes a secret ({len(secret)} characters, "
                    f"starting {secret[:4]!r})"
                )


@schemathesis.deserializer("text/html", "text/css", "text/javascript")
def text(ctx, response):
    """The pages and their assets, as text (the contract's schema for them is a string): a body
    that is not UTF-8 fails validation."""
    return response.content.decode("utf-8")
