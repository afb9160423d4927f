/**
 * The text of `rxdisco --help`.
 *
 * @module
 */

/** What `rxdisco --help` prints. */
export const USAGE = `Usage: rxdisco <command> [arguments]

Commands:
  watch URL SERVICE [--json] [--explain]
      Print the live instances of SERVICE, again on every change.
      --json            one NDJSON line per change:
                        {"service":"hello","stale":false,"instances":[...]}
      --explain         after each change, pick with roundRobin() and print
                        why (explain(): candidates, weights, notes)

  watch URL --all [--json]
      Print the whole registry: every service, then each service again
      when it changes (or goes).
      --json            one NDJSON line per changed service, as above

  services URL [--json]
      Print the live service names, one a line (--json: one JSON array).

  register URL SERVICE HOST:PORT [options]
      Register an instance, keep it alive, print its lifecycle events;
      on SIGINT/SIGTERM deregister it and exit 0.
      --id ID           instance id (default HOST:PORT)
      --ttl DURATION    time to live without a keepalive: 10s, 1500ms, 2m, a bare
                        number of seconds; at least 1s (default 10s)
      --meta KEY=VALUE  metadata entry (repeatable)
      --tag TAG         tag (repeatable)
      --zone ZONE       availability zone
      --weight W        traffic weight >= 0 (default 1)
      --secure          the instance speaks TLS
      --json            one NDJSON line per lifecycle event

  gateway URL [--listen HOST:PORT] [--balancer NAME] [--timeout 30s] [--drain 10s]
      Route /<service>/<path> to /<path> on a live instance of <service>
      (status page at /-/status, probes at /-/healthy); on SIGINT/SIGTERM
      stop accepting, let requests in flight finish, exit 0.
      --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0:
                        any free port); prints one line: rxdisco gateway
                        listening on http://HOST:PORT
      --balancer NAME   round-robin (default), random, weighted-round-robin,
                        least-request, ewma
      --timeout DURATION  to an instance's response headers, retries
                        included; then 504 (default 30s)
      --drain DURATION  how long requests in flight may finish on a signal
                        (default 10s)
      --trust-proxy     keep the client's X-Forwarded-* (append to For)

  demo [--registry URL]
      Three HTTP services register as 'hello', a client balances calls over
      them, one goes away mid-run; about 10 seconds (default memory://).

  help                show this text (also --help, -h)

Registry URLs:
  memory://                            in-process (only this process sees it)
  static://host:port,host:port         a fixed list, read-only
  etcd://host:port/prefix/?format=gokit|json|gomicro   (etcds:// for TLS)
  consul://host:port?dc=dc1&token=...                  (consuls:// for TLS)
  eureka://host:port/eureka                            (eurekas:// for TLS)

Exit status: 0 done or stopped by a signal, 1 runtime failure, 2 bad arguments.
`;
