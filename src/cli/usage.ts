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
