// scripts/bench's reference for the gateway rows: the least a Worker that proxies can do.
// It forwards every request to ORIGIN as it is (method, headers, body), with no
// authentication, no assertion and no header filtering, and returns the origin's response.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, request);
  },
};
