#!/usr/bin/env python3
"""Mints service tokens straight into an instance's local D1, for scripts/bench: thousands of
distinct valid tokens (the cold-cache row) and a million rows (to show the lookup cost stays
flat as the table grows), which the API would take hours to create one by one.

Usage: seed_tokens.py PERSIST_DIR SECRET PROJECT COUNT OUT_FILE [FILLER]

Writes COUNT rows into the `service_tokens` table of the D1 database under PERSIST_DIR (the
instance's --persist-to directory; run it while the instance is idle: workerd's local D1 does
not wait on another process's lock), each the token of docs/api.md's format for PROJECT under
SECRET: `eas_` + 43 base62 of entropy + 22 base62 of tag (the first 128 bits of
HMAC-SHA256(project key, `eas_` + entropy), the project key being HMAC-SHA256(SECRET,
`edgeauth/v1/service-tokens/project/PROJECT`)) + 6 base62 of CRC32. The plaintexts go to
OUT_FILE, one per line (mode 0600): they are secrets of a throwaway bench instance. FILLER
more rows (default 0) have random hashes of no token, in another project: they only make the
table as large as a big deployment's. The format is written out here independently of edgeauth-core, like the e2e tests'
tokens.rs, so a bench that gets 200s from these tokens also checks the documented format.
"""

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import sys
import time
import zlib
from pathlib import Path

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_fixed(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    if value:
        raise ValueError("value does not fit")
    return "".join(reversed(digits))


def random_base62(n: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(n))


def mint(project_key: bytes) -> str:
    body = "eas_" + random_base62(43)
    mac = hmac.new(project_key, body.encode(), hashlib.sha256).digest()
    body += base62_fixed(int.from_bytes(mac[:16], "big"), 22)
    return body + base62_fixed(zlib.crc32(body.encode()), 6)


def d1_database(persist: Path) -> Path:
    for path in sorted((persist / "v3" / "d1").rglob("*.sqlite")):
        if path.name == "metadata.sqlite":
            continue
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            found = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'service_tokens'"
            ).fetchone()[0]
        if found:
            return path
    sys.exit(f"seed_tokens: no D1 database with a service_tokens table under {persist}")


def main() -> None:
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.split("\n\n")[1])
    persist, secret, project, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    out = Path(sys.argv[5])
    filler = int(sys.argv[6]) if len(sys.argv) == 7 else 0
    project_key = hmac.new(
        secret.encode(), f"edgeauth/v1/service-tokens/project/{project}".encode(), hashlib.sha256
    ).digest()
    now = int(time.time() * 1000)
    workspaces = json.dumps(["*"])
    tokens = []
    db = sqlite3.connect(d1_database(persist), timeout=30)
    try:
        batch = []
        for i in range(filler):
            batch.append(
                (
                    f"st_fill{i:013d}",
                    "filler",
                    f"filler {i}",
                    workspaces,
                    secrets.token_hex(32),
                    "eas_filler00",
                    now,
                    "super",
                )
            )
            if len(batch) == 10_000:
                insert(db, batch)
                batch.clear()
        for i in range(count):
            token = mint(project_key)
            tokens.append(token)
            batch.append(
                (
                    "st_seed" + random_base62(13),
                    project,
                    f"seed {i}",
                    workspaces,
                    hashlib.sha256(token.encode()).hexdigest(),
                    token[:12],
                    now,
                    "super",
                )
            )
            if len(batch) == 10_000:
                insert(db, batch)
                batch.clear()
        insert(db, batch)
    finally:
        db.close()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(tokens) + "\n")


def insert(db: sqlite3.Connection, rows: list) -> None:
    with db:
        db.executemany(
            "INSERT INTO service_tokens (id, project, name, workspaces, token_hash, "
            "display_prefix, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


if __name__ == "__main__":
    main()
