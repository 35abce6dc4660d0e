"""The GATEWAY setting of the e2e fleet's MAIN instance (scripts/test): one route per rule
tests/e2e/tests/gateway.rs exercises, all to the test origin (tests/origin), one to a port
where nothing listens, and (unless --no-service) one through the Service Binding ECHO
(tests/origin/service-worker.js, which passes requests on to the origin).
Usage: test_gateway.py ORIGIN_URL DEAD_URL [--no-service]; prints the JSON."""

import json
import sys

origin, dead = sys.argv[1], sys.argv[2]
service = "--no-service" not in sys.argv[3:]


def route(name, path, **rule):
    return {"name": name, "path": path, "origin": origin, **rule}


routes = [
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
]
if service:
    # The origin verifies every assertion with its own URL as the audience.
    routes.append({"name": "service", "path": "/svc/*", "origin": "service:ECHO",
                   "audience": origin, "read": "credential"})
print(json.dumps({"routes": routes}, separators=(",", ":")))
