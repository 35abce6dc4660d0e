// The Worker behind MAIN's `service:ECHO` gateway route in the end-to-end tests: edgeauth
// reaches it through a Service Binding (scripts/lib/fleet.sh runs it in MAIN's `wrangler dev`,
// a second configuration). It stands for an API that is itself a Worker: it marks the request
// (`x-via-service: ECHO`) and hands it, assertion and all, to the test origin's echo
// (ORIGIN + "/echo" + the path), which verifies the assertion as for any other route.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const forwarded = new Request(`${env.ORIGIN}/echo${url.pathname}${url.search}`, request);
    forwarded.headers.set("x-via-service", "ECHO");
    return fetch(forwarded);
  },
};
