/**
 * Headers across the gateway: the hop-by-hop ones dropped both ways (RFC
 * 9110 §7.6.1: `Connection` and the headers it names, `Keep-Alive`,
 * `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), and the
 * `X-Forwarded-*` set on requests.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Request headers the gateway does not pass on besides the hop-by-hop ones. */
const NOT_FORWARDED = new Set([
  // undici sets the instance's own Host; the client's goes in X-Forwarded-Host.
  'host',
  // Answered by the gateway itself (undici cannot relay a 100 over HTTP/1.1).
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/** The header names a `Connection` header lists (lower case). */
const named = (connection: string | undefined): ReadonlySet<string> | undefined => {
  if (connection === undefined || connection === '') return undefined;
  const names = new Set<string>();
  for (const token of connection.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '') names.add(t);
  }
  return names;
};

const dropped = (name: string, connection: ReadonlySet<string> | undefined): boolean =>
  HOP_BY_HOP.has(name) || name.startsWith('proxy-') || connection?.has(name) === true;

/** What the gateway knows of the client side of a request. */
export interface Forwarding {
  /** Keep the client's X-Forwarded-* (append to For) rather than replace them. */
  readonly trustProxy: boolean;
}

/**
 * The headers to send upstream for `req`: the client's raw headers (names
 * and repeated values as sent) without the hop-by-hop ones, `Host` and
 * `Expect`, plus `X-Forwarded-For`, `-Proto` and `-Host`.
 */
export const requestHeaders = (req: IncomingMessage, forwarding: Forwarding): string[] => {
  const raw = req.rawHeaders;
  const connection = named(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (dropped(lower, connection) || NOT_FORWARDED.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  const peer = req.socket.remoteAddress ?? '';
  const proto = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const h = req.headers;
  const before = forwarding.trustProxy ? h['x-forwarded-for'] : undefined;
  const upstreamFor = before === undefined || before === '' ? peer : `${before}, ${peer}`;
  const forwardedProto = forwarding.trustProxy ? first(h['x-forwarded-proto']) : undefined;
  const forwardedHost = forwarding.trustProxy ? first(h['x-forwarded-host']) : undefined;
  out.push('x-forwarded-for', upstreamFor);
  out.push('x-forwarded-proto', forwardedProto ?? proto);
  const host = forwardedHost ?? h.host;
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
};

const first = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[0] : v === '' ? undefined : v;

/** The lengths of the hop-by-hop names that do not start with `proxy-`. */
const HOP_BY_HOP_LENGTHS = new Set(
  [...HOP_BY_HOP].filter((n) => !n.startsWith('p')).map((n) => n.length),
);

/**
 * False for a name that is surely not hop-by-hop (nor `Connection` or
 * `Upgrade`): neither a hop-by-hop name's length nor starting with a `p`.
 * Spares most response headers the lower-casing.
 */
const mayBeHopByHop = (name: string): boolean =>
  HOP_BY_HOP_LENGTHS.has(name.length) || (name.charCodeAt(0) | 0x20) === 0x70;

/**
 * An upstream response's raw headers (name, value, name, value... as undici
 * gives them) for `res.writeHead()`, without the hop-by-hop ones.
 * `keepUpgrade` keeps `Connection` and `Upgrade` (a 101 answer). Each raw
 * header is turned into a string once; the headers a `Connection` header
 * names (it may come after them) are dropped in a second pass over the
 * strings, only when it names one that is not hop-by-hop already.
 */
export const responseHeaders = (
  raw: readonly (Buffer | string)[],
  keepUpgrade = false,
): string[] => {
  let connection: string | undefined;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]);
    const value = String(raw[i + 1]);
    if (!mayBeHopByHop(name)) {
      out.push(name, value);
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === 'connection')
      connection = connection === undefined ? value : `${connection},${value}`;
    if (keepUpgrade && (lower === 'connection' || lower === 'upgrade')) out.push(name, value);
    else if (!dropped(lower, undefined)) out.push(name, value);
  }
  const names = named(connection);
  if (names === undefined || [...names].every((n) => dropped(n, undefined))) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) {
    const lower = out[i]!.toLowerCase();
    if (names.has(lower) && !(keepUpgrade && (lower === 'connection' || lower === 'upgrade')))
      continue;
    kept.push(out[i]!, out[i + 1]!);
  }
  return kept;
};
