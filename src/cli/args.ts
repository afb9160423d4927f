/**
 * Command-line parsing: `argv` to a checked {@link Command}, with
 * `node:util` `parseArgs`. Everything that can be checked without a
 * registry is checked here (URL, service name, HOST:PORT, --ttl, --meta,
 * the instance spec), so that a bad argument is a {@link ConfigError}
 * before anything starts.
 *
 * @module
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { checkServiceName, createInstance, type InstanceSpec } from '../core/instance.js';
import { durationOption, enumOption, parseDuration } from '../core/options.js';
import { BALANCER_NAMES, type BalancerName } from '../gateway/balancer-names.js';
import { parseRegistryUrl } from '../registry-url.js';
import { parseHostPort, parseMeta, parseTtl, parseWeight } from './values.js';

/** `rxdisco watch URL SERVICE [--json] [--explain]` */
export interface WatchCommand {
  readonly kind: 'watch';
  readonly url: string;
  readonly service: string;
  readonly json: boolean;
  /** `--explain`: after each set, a round-robin pick and its `explain()`. */
  readonly explain?: true;
}

/** `rxdisco watch URL --all [--json]`: the whole registry. */
export interface WatchAllCommand {
  readonly kind: 'watch-all';
  readonly url: string;
  readonly json: boolean;
}

/** `rxdisco services URL [--json]`: the live service names, once. */
export interface ServicesCommand {
  readonly kind: 'services';
  readonly url: string;
  readonly json: boolean;
}

/** `rxdisco register URL SERVICE HOST:PORT [options]` */
export interface RegisterCommand {
  readonly kind: 'register';
  readonly url: string;
  readonly spec: InstanceSpec;
  /** The `--ttl` in milliseconds; `undefined` for the library default. */
  readonly ttlMs: number | undefined;
  readonly json: boolean;
}

/** `rxdisco gateway URL [--listen HOST:PORT] [--balancer NAME] [--timeout 30s] [--drain 10s] [--trust-proxy]` */
export interface GatewayCommand {
  readonly kind: 'gateway';
  readonly url: string;
  /** Where to listen (`--listen`; port 0 for any free port). */
  readonly listen: { readonly host: string; readonly port: number };
  /** `--balancer`, one of the gateway's balancer names. */
  readonly balancer: BalancerName;
  /** `--timeout` in milliseconds: to the upstream's response headers. */
  readonly timeoutMs: number;
  /** `--drain` in milliseconds: how long requests in flight may finish on SIGTERM/SIGINT. */
  readonly drainMs: number;
  /** `--trust-proxy`: keep the client's X-Forwarded-* (append to For). */
  readonly trustProxy: boolean;
}

/** `rxdisco demo [--registry URL]` */
export interface DemoCommand {
  readonly kind: 'demo';
  readonly registry: string;
}

/** A parsed, checked command line. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | WatchCommand
  | WatchAllCommand
  | ServicesCommand
  | RegisterCommand
  | GatewayCommand
  | DemoCommand;

/** The command names, as `rxdisco --help` lists them. */
export const COMMANDS = ['watch', 'services', 'register', 'gateway', 'demo', 'help'] as const;

type Options = NonNullable<ParseArgsConfig['options']>;

const WATCH_OPTIONS = {
  json: { type: 'boolean' },
  explain: { type: 'boolean' },
  all: { type: 'boolean' },
} as const satisfies Options;
const SERVICES_OPTIONS = { json: { type: 'boolean' } } as const satisfies Options;
const REGISTER_OPTIONS = {
  id: { type: 'string' },
  ttl: { type: 'string' },
  meta: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  zone: { type: 'string' },
  weight: { type: 'string' },
  secure: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies Options;
const DEMO_OPTIONS = { registry: { type: 'string' } } as const satisfies Options;
const GATEWAY_OPTIONS = {
  listen: { type: 'string' },
  balancer: { type: 'string' },
  timeout: { type: 'string' },
  drain: { type: 'string' },
  'trust-proxy': { type: 'boolean' },
} as const satisfies Options;

/** Turns a `parseArgs` error into a one-line {@link ConfigError}. */
const translate = (e: unknown, command: string): never => {
  const error = e as { code?: string; message?: string };
  const message = String(error.message ?? e);
  const option = /'(-{1,2}[^' <]+)/.exec(message)?.[1] ?? 'option';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      throw new ConfigError(
        `option ${option}`,
        `is unknown for 'rxdisco ${command}'`,
        'see rxdisco --help',
      );
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) {
        throw new ConfigError(option, 'takes no value', `write ${option} alone`);
      }
      throw new ConfigError(
        option,
        'needs a value',
        `write ${option} VALUE (${option}=VALUE when it starts with '-')`,
      );
    default:
      throw new ConfigError('arguments', message.split('\n')[0]!, 'see rxdisco --help');
  }
};

const parse = <T extends Options>(command: string, args: readonly string[], options: T) => {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    return translate(e, command);
  }
};

const SYNOPSIS: Readonly<Record<string, string>> = {
  watch: 'rxdisco watch URL SERVICE [--json] [--explain]',
  'watch-all': 'rxdisco watch URL --all [--json]',
  services: 'rxdisco services URL [--json]',
  register: 'rxdisco register URL SERVICE HOST:PORT [options]',
  gateway:
    'rxdisco gateway URL [--listen HOST:PORT] [--balancer NAME] [--timeout 30s] [--drain 10s]',
  demo: 'rxdisco demo [--registry URL]',
};

const positionals = (
  command: string,
  given: readonly string[],
  names: readonly string[],
  synopsis: string = SYNOPSIS[command]!,
): readonly string[] => {
  if (given.length < names.length) {
    const missing = names.slice(given.length);
    throw new ConfigError(
      missing.join(' '),
      missing.length === 1 ? 'is missing' : 'are missing',
      `write ${synopsis} (see rxdisco --help)`,
    );
  }
  if (given.length > names.length) {
    const extra = given.slice(names.length);
    throw new ConfigError(
      extra.length === 1 ? 'argument' : 'arguments',
      `'${extra.join(' ')}' ${extra.length === 1 ? 'is' : 'are'} not expected by 'rxdisco ${command}'`,
      `write ${synopsis} (see rxdisco --help)`,
    );
  }
  return given;
};

const url = (text: string): string => {
  parseRegistryUrl(text);
  return text;
};

const service = (text: string): string => checkServiceName(text);

const nonEmpty = (option: string, value: string): string => {
  if (value.trim() === '') throw new ConfigError(option, 'is empty', `give ${option} a value`);
  return value;
};

const parseWatch = (args: readonly string[]): WatchCommand | WatchAllCommand => {
  const { values, positionals: given } = parse('watch', args, WATCH_OPTIONS);
  if (values.all === true) {
    if (values.explain === true) {
      throw new ConfigError(
        '--explain',
        'picks within one service, not with --all',
        'write rxdisco watch URL SERVICE --explain',
      );
    }
    const [u] = positionals('watch', given, ['URL'], SYNOPSIS['watch-all']) as [string];
    return { kind: 'watch-all', url: url(u), json: values.json ?? false };
  }
  const [u, s] = positionals('watch', given, ['URL', 'SERVICE']) as [string, string];
  return {
    kind: 'watch',
    url: url(u),
    service: service(s),
    json: values.json ?? false,
    ...(values.explain === true ? { explain: true } : {}),
  };
};

const parseServices = (args: readonly string[]): ServicesCommand => {
  const { values, positionals: given } = parse('services', args, SERVICES_OPTIONS);
  const [u] = positionals('services', given, ['URL']) as [string];
  return { kind: 'services', url: url(u), json: values.json ?? false };
};

const parseRegister = (args: readonly string[]): RegisterCommand => {
  const { values, positionals: given } = parse('register', args, REGISTER_OPTIONS);
  const [u, s, hp] = positionals('register', given, ['URL', 'SERVICE', 'HOST:PORT']) as [
    string,
    string,
    string,
  ];
  const registry = url(u);
  const endpoint = parseHostPort(hp);
  const spec: InstanceSpec = {
    service: service(s),
    host: endpoint.host,
    port: endpoint.port,
    ...(values.id === undefined ? {} : { id: nonEmpty('--id', values.id) }),
    ...(values.zone === undefined ? {} : { zone: nonEmpty('--zone', values.zone) }),
    ...(values.weight === undefined ? {} : { weight: parseWeight(values.weight) }),
    ...(values.secure === undefined ? {} : { secure: values.secure }),
    ...(values.tag === undefined ? {} : { tags: values.tag.map((t) => nonEmpty('--tag', t)) }),
    ...(values.meta === undefined ? {} : { metadata: parseMeta(values.meta) }),
  };
  createInstance(spec, parseRegistryUrl(registry).url);
  return {
    kind: 'register',
    url: registry,
    spec,
    ttlMs: values.ttl === undefined ? undefined : parseTtl(values.ttl),
    json: values.json ?? false,
  };
};

/** `--listen HOST:PORT`: as HOST:PORT, but port 0 (any free port) is allowed. */
const listenOn = (text: string): { host: string; port: number } => {
  const any = /^(.*):0+$/.exec(text);
  if (any === null) return parseHostPort(text);
  const { host } = parseHostPort(`${any[1]}:1`);
  return { host, port: 0 };
};

const parseGateway = (args: readonly string[]): GatewayCommand => {
  const { values, positionals: given } = parse('gateway', args, GATEWAY_OPTIONS);
  const [u] = positionals('gateway', given, ['URL']) as [string];
  const duration = (flag: string, text: string | undefined, fallback: number, fix: string) =>
    text === undefined
      ? fallback
      : durationOption(flag, parseDuration(flag, text), fallback, { above: 0, fix });
  return {
    kind: 'gateway',
    url: url(u),
    listen: listenOn(values.listen ?? '127.0.0.1:8080'),
    balancer: enumOption(
      '--balancer',
      values.balancer as BalancerName | undefined,
      'round-robin',
      BALANCER_NAMES,
    ),
    timeoutMs: duration(
      '--timeout',
      values.timeout,
      30_000,
      'pass a duration such as --timeout 30s',
    ),
    drainMs: duration('--drain', values.drain, 10_000, 'pass a duration such as --drain 10s'),
    trustProxy: values['trust-proxy'] ?? false,
  };
};

const parseDemo = (args: readonly string[]): DemoCommand => {
  const { values, positionals: given } = parse('demo', args, DEMO_OPTIONS);
  positionals('demo', given, []);
  return { kind: 'demo', registry: url(values.registry ?? 'memory://') };
};

const before = (args: readonly string[], end: number): readonly string[] =>
  end < 0 ? args : args.slice(0, end);

/**
 * Parses the arguments after `rxdisco` (`process.argv.slice(2)`).
 *
 * @throws {ConfigError} naming the argument that is wrong: unknown command
 *   or option, missing or extra argument, bad URL, service, HOST:PORT,
 *   --ttl, --meta, --weight...
 * @example
 * ```ts
 * parseCommand(['watch', 'memory://', 'hello', '--json']);
 * // { kind: 'watch', url: 'memory://', service: 'hello', json: true }
 * ```
 */
export const parseCommand = (argv: readonly string[]): Command => {
  const flags = before(argv, argv.indexOf('--'));
  if (flags.includes('--help') || flags.includes('-h')) return { kind: 'help' };
  if (flags.includes('--version') || flags.includes('-v')) return { kind: 'version' };
  const [command, ...rest] = argv;
  switch (command) {
    case 'watch':
      return parseWatch(rest);
    case 'services':
      return parseServices(rest);
    case 'register':
      return parseRegister(rest);
    case 'gateway':
      return parseGateway(rest);
    case 'demo':
      return parseDemo(rest);
    case 'help':
      return { kind: 'help' };
    case undefined:
      throw new ConfigError(
        'command',
        'is missing',
        `use one of ${COMMANDS.join(', ')} (see rxdisco --help)`,
      );
    default:
      throw new ConfigError(
        'command',
        `'${command}' is unknown`,
        `use one of ${COMMANDS.join(', ')} (see rxdisco --help)`,
      );
  }
};
