"""The GATEWAY setting of the e2e fleet's MAIN instance (scripts/test): one route per rule
tests/e2e/tests/gateway.rs exercises, all to the test origin (tests/origin), and one to a port
where nothing listens. Usage: test_gateway.py ORIGIN_URL DEAD_URL; prints the JSON."""

import json
import sys

origin, dead = sys.argv[1], sys.argv[2]


def route(name, path, **rule):
    return {"name": name, "path": path, "origin": origin, **rule}


print(json.dumps({"routes": [
    route("admin", "/echo/admin/*", read="super", write="super"),
    route("private", "/echo/private/*", read="credential"),
    route("workspaces", "/echo/ws/{workspace}/*", methods={"DELETE": "super"}),
    route("uploads", "/echo/upload/*", workspace_header="X-Workspace", read="workspace"),
    route("forward-auth", "/echo/forward-auth/*", forward_authorization=True),
    route("echo", "/echo/*"),
    route("status", "/status/*"),
    route("sse", "/sse"),
    route("download", "/download"),
    route("websocket", "/ws/*", read="credential"),
    route("slow", "/slow", timeout_seconds=2),
    {"name": "down", "path": "/down/*", "origin": dead},
]}, separators=(",", ":")))
