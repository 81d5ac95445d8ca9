/**
 * Settings of the long-running services, by the seed's variable names (`WEB3_RPC_URL`, ...). Sources,
 * weakest first: the schema's defaults, a JSON config file, the environment, then command-line flags.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAddress, maxUint256, parseEther } from 'viem';
import { z } from 'zod';
import { UserInputError } from './errors.js';

export const address = z.string().refine((v) => isAddress(v, { strict: false }), 'must be a 0x-prefixed 20-byte address');
/** The order n of secp256k1: a private key is a number from 1 to n - 1. */
const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export const privateKey = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex digits')
  .refine((key) => BigInt(key) > 0n && BigInt(key) < SECP256K1_ORDER, 'is not a valid secp256k1 private key (it must be a number from 1 to the curve order minus 1); use the key your wallet exported');
export const addressList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(address).min(1, 'must name at least one address'));
export const port = z.coerce.number().int().min(0).max(65535);
/** A block number as people write it (12345678), as a bigint. */
export const blockNumber = z
  .string()
  .trim()
  .regex(/^\d{1,20}$/, 'must be a block number such as 12345678')
  .transform((v) => BigInt(v));

/** An amount of LP as people write it (10, 2.5), in wei; it must fit the chain's uint256. */
export const lpAmount = z
  .string()
  .regex(/^\d+(\.\d{1,18})?$/, 'must be an amount of LP such as 10 or 2.5 (at most 18 decimal places)')
  .transform((v) => parseEther(v))
  .refine((wei) => wei <= maxUint256, 'is more LP than the chain can count (at most about 1.16e59); give an amount such as 10');

/** The longest timeout or window (s) the deal contract stores (a uint24: about 194 days). */
export const MAX_DEAL_TIMEOUT_SECONDS = 2n ** 24n - 1n;

export const dealTimeoutSeconds = z
  .string()
  .regex(/^\d+$/, 'must be a whole number of seconds such as 60')
  .transform((v) => BigInt(v))
  .refine((s) => s > 0n, 'must be at least 1 second')
  .refine((s) => s <= MAX_DEAL_TIMEOUT_SECONDS, `must be at most ${MAX_DEAL_TIMEOUT_SECONDS} seconds (about 194 days), the longest the deal contract stores`);

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A span of time as people write it, in whole seconds: `3600` (seconds), `90s`, `30m`, `12h`, `7d`. */
export const durationSeconds = z
  .string()
  .trim()
  .regex(/^\d{1,12}\s*[smhd]?$/i, 'must be a duration such as 7d, 12h, 30m or 3600 (seconds)')
  .transform((v) => {
    const unit = (v.match(/[smhd]$/i)?.[0]?.toLowerCase() ?? 's') as keyof typeof SECONDS_PER_UNIT;
    return Number.parseInt(v, 10) * SECONDS_PER_UNIT[unit];
  });

/** A value in a message: long ones (a 1000-digit number) are cut to their start and length. */
export function shownValue(value: string): string {
  return value.length <= 32 ? value : `${value.slice(0, 16)}… (${value.length} characters)`;
}

/** One command-line flag parsed with a setting's schema; a bad value is one line naming the flag. */
export function parseFlag<T extends z.ZodType>(schema: T, flag: string, value: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UserInputError(`${flag} ${shownValue(value)}: ${parsed.error.issues[0]!.message}`, { code: 'input-malformed' });
  return parsed.data;
}

export function loadServiceConfig<T extends z.ZodObject>(
  schema: T,
  sources: { configFile?: string; env: NodeJS.ProcessEnv; flags: Record<string, string | undefined> },
): z.infer<T> {
  const names = Object.keys(schema.shape);
  let fromFile: Record<string, unknown> = {};
  if (sources.configFile) {
    try {
      fromFile = JSON.parse(readFileSync(sources.configFile, 'utf8'));
    } catch (error) {
      throw new UserInputError(`cannot read the config file ${sources.configFile}: ${(error as Error).message}`, { code: 'config-invalid' });
    }
  }
  const merged: Record<string, unknown> = {};
  for (const name of names) {
    for (const value of [fromFile[name], sources.env[name], sources.flags[name]]) {
      if (value !== undefined && value !== '') merged[name] = typeof value === 'string' ? value : String(value);
    }
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    const message = merged[name] === undefined ? 'is not set' : issue.message;
    throw new UserInputError(`${name} ${message} (set it in the environment, a --config file or a flag)`, { code: 'config-invalid' });
  }
  return parsed.data;
}

/** A comma-separated list, blanks dropped. */
const list = z.string().default('').transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const chainConnection = { WEB3_RPC_URL: z.string().url(), LILYPAD_DEALS_ADDRESS: address };
const signerSettings = { ...chainConnection, WEB3_PRIVATE_KEY: privateKey };

/**
 * Where a service that runs strangers' jobs fetches modules from (src/module/sources.ts); empty: the
 * wiring's safe default.
 */
const moduleSources = list;

/** Trustless gateways that jobs' inputs by CID are fetched from, in order; empty: jobs with inputs are refused. */
const inputGateways = list.refine((urls) => urls.every((url) => URL.canParse(url) && /^https?:/.test(url)), 'must be http(s) URLs, comma-separated');

/**
 * A role's IPFS node: where it listens (LILYPAD_IPFS_LISTEN: multiaddrs, comma-separated, default one TCP
 * port on 127.0.0.1; `off` for no node) and peers it always dials besides those offers name
 * (LILYPAD_IPFS_PEERS: multiaddrs ending in /p2p/<id>, such as the user's own IPFS node).
 */
export const ipfsSettings = {
  LILYPAD_IPFS_LISTEN: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === 'off' || v.split(',').every((a) => a.trim() === '' || a.trim().startsWith('/')), 'must be multiaddrs such as /ip4/0.0.0.0/tcp/4001, comma-separated, or off'),
  LILYPAD_IPFS_PEERS: list.refine((peers) => peers.every((a) => a.startsWith('/') && a.includes('/p2p/')), 'must be multiaddrs ending in /p2p/<peer id>, comma-separated'),
};

/** The wiring's `ipfs` setting from the parsed `ipfsSettings`: `false` for no node. */
export function ipfsSettingOf(config: { LILYPAD_IPFS_LISTEN?: string; LILYPAD_IPFS_PEERS: string[] }): { listen?: string[]; peers: string[] } | false {
  if (config.LILYPAD_IPFS_LISTEN?.trim() === 'off') return false;
  const listen = (config.LILYPAD_IPFS_LISTEN ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  return { ...(listen.length > 0 ? { listen } : {}), peers: config.LILYPAD_IPFS_PEERS };
}

/** `lilypad chain`'s settings. */
export const chainServiceSchema = z.object({
  LILYPAD_HOST: z.string().default('127.0.0.1'),
  LILYPAD_PORT: port.default(0),
  LILYPAD_CHAIN_STATE: z.string().optional(),
});

/** `lilypad resource-provider`'s settings; what it offers defaults to `machine`, this machine. */
export function resourceProviderServiceSchema(machine: { cpu: number; gpu: number; ram: number; gpuMemory?: number }) {
  return z.object({
    ...signerSettings,
    SERVICE_SOLVER: z.string().url(),
    SERVICE_MEDIATORS: addressList,
    LILYPAD_PRICE: lpAmount.default(parseEther('1')),
    LILYPAD_COLLATERAL_MULTIPLE: z.coerce.bigint().default(2n),
    LILYPAD_CAPACITY: z.coerce.number().int().positive().default(Math.max(1, os.availableParallelism())),
    LILYPAD_CPU: z.coerce.number().nonnegative().default(machine.cpu),
    LILYPAD_GPU: z.coerce.number().nonnegative().default(machine.gpu),
    /** MB on each GPU (the smallest card's); unset where nvidia-smi says nothing, and then no job asking for vram is taken. */
    LILYPAD_GPU_MEMORY: machine.gpuMemory !== undefined ? z.coerce.number().nonnegative().default(machine.gpuMemory) : z.coerce.number().nonnegative().optional(),
    LILYPAD_RAM: z.coerce.number().nonnegative().default(machine.ram),
    LILYPAD_MODULES: list,
    LILYPAD_REFUSE_MODULES: list,
    LILYPAD_DATA_DIR: z.string().default(path.join(os.tmpdir(), 'lilypad', 'resource-provider')),
    LILYPAD_HOST: z.string().default('127.0.0.1'),
    LILYPAD_PORT: port.default(0),
    LILYPAD_MIN_SUBMIT_TIMEOUT: z.coerce.bigint().positive().optional(),
    LILYPAD_MAX_JUDGE_WINDOW: z.coerce.bigint().positive().optional(),
    LILYPAD_MAX_MEDIATION_TIMEOUT: z.coerce.bigint().positive().optional(),
    LILYPAD_MAX_JOB_TIMEOUT: z.coerce.number().int().positive().optional(),
    /** How long result blocks are kept after their deal ends; unset: the provider's default (7 days). */
    LILYPAD_KEEP_RESULTS: durationSeconds.optional(),
    LILYPAD_MODULE_SOURCES: moduleSources,
    LILYPAD_INPUT_GATEWAYS: inputGateways,
    ...ipfsSettings,
  });
}

/** `lilypad mediator`'s settings. */
export const mediatorServiceSchema = z.object({
  ...signerSettings,
  SERVICE_SOLVER: z.string().url().default('http://127.0.0.1:8080'),
  LILYPAD_DATA_DIR: z.string().optional(),
  LILYPAD_MEDIATOR_PANEL: list,
  LILYPAD_HOST: z.string().default('127.0.0.1'),
  LILYPAD_PORT: port.optional(),
  LILYPAD_MODULE_SOURCES: moduleSources,
  LILYPAD_INPUT_GATEWAYS: inputGateways,
  ...ipfsSettings,
});

/** `lilypad jobcreator`'s settings: the on-chain job creator's bridge. */
export const jobCreatorServiceSchema = z.object({
  ...signerSettings,
  SERVICE_SOLVER: z.string().url(),
  SERVICE_MEDIATORS: addressList,
  LILYPAD_JOB_CREATOR_ADDRESS: address,
  LILYPAD_BRIDGE_CHECKS: z.enum(['audit', 'verify', 'none']).default('audit'),
  LILYPAD_MAX_PRICE: lpAmount.default(parseEther('10')),
  LILYPAD_DATA_DIR: z.string().default(path.join(os.tmpdir(), 'lilypad', 'jobcreator')),
  LILYPAD_MODULE_SOURCES: moduleSources,
  ...ipfsSettings,
});

/** `lilypad faucet`'s settings. */
export const faucetServiceSchema = z.object({ ...signerSettings, LILYPAD_TOKEN_ADDRESS: address });

const msFromSeconds = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds such as 30 or 0.5')
  .transform((v) => Math.round(Number(v) * 1000))
  .refine((ms) => ms > 0, 'must be more than 0 seconds');
const positiveCount = z
  .string()
  .regex(/^\d+$/, 'must be a whole number such as 64')
  .transform((v) => Number(v))
  .refine((n) => n > 0, 'must be at least 1');

/**
 * The solver's settings beyond where it listens (SolverConfig in src/solver/solver.ts), one entry each: its
 * flag, its variable, and the field it sets (times are seconds here, milliseconds there). The flags and the
 * schema come from this list; the README's table follows it.
 */
export const SOLVER_TUNING = [
  { flag: 'agreement-timeout', unit: 's', variable: 'LILYPAD_SOLVER_AGREEMENT_TIMEOUT', field: 'agreementTimeoutMs', help: 'how long a provider has to agree a matched deal on chain before the job is matched elsewhere' },
  { flag: 'stale-pause', unit: 's', variable: 'LILYPAD_SOLVER_STALE_PAUSE', field: 'stalePauseMs', help: 'how long a provider that let a matched deal go unagreed is not matched' },
  { flag: 'provider-grace', unit: 's', variable: 'LILYPAD_SOLVER_PROVIDER_GRACE', field: 'providerGraceMs', help: "how long a provider's offers outlive its last subscription" },
  { flag: 'chain-refresh', unit: 's', variable: 'LILYPAD_SOLVER_CHAIN_REFRESH', field: 'chainRefreshMs', help: "how often providers' escrow and matched deals' time are read from the chain" },
  { flag: 'idle-timeout', unit: 's', variable: 'LILYPAD_SOLVER_IDLE_TIMEOUT', field: 'idleTimeoutMs', help: 'a connection that sends nothing, or a WebSocket that has not subscribed, for this long is closed' },
  { flag: 'heartbeat', unit: 's', variable: 'LILYPAD_SOLVER_HEARTBEAT', field: 'heartbeatMs', help: 'how often WebSockets are pinged; one that missed the last ping is closed' },
  { flag: 'max-connections', unit: 'n', variable: 'LILYPAD_SOLVER_MAX_CONNECTIONS', field: 'maxConnections', help: 'TCP connections at once; more are closed at once' },
  { flag: 'max-connections-per-address', unit: 'n', variable: 'LILYPAD_SOLVER_MAX_CONNECTIONS_PER_ADDRESS', field: 'maxConnectionsPerAddress', help: 'TCP connections at once from one address (an IPv6 /64 counts as one)' },
  { flag: 'max-subscribers', unit: 'n', variable: 'LILYPAD_SOLVER_MAX_SUBSCRIBERS', field: 'maxSubscribers', help: 'WebSocket subscribers at once; more are refused with 503' },
  { flag: 'max-body-bytes', unit: 'bytes', variable: 'LILYPAD_SOLVER_MAX_BODY_BYTES', field: 'maxBodyBytes', help: 'largest request body accepted' },
  { flag: 'max-send-buffer-bytes', unit: 'bytes', variable: 'LILYPAD_SOLVER_MAX_SEND_BUFFER_BYTES', field: 'maxSendBufferBytes', help: 'bytes queued for a subscriber that does not read before it is dropped' },
  { flag: 'rate-per-address', unit: 'n', variable: 'LILYPAD_SOLVER_RATE_PER_ADDRESS', field: 'perAddressRate', help: 'signed requests per second from one address, on average' },
  { flag: 'burst-per-address', unit: 'n', variable: 'LILYPAD_SOLVER_BURST_PER_ADDRESS', field: 'perAddressBurst', help: 'signed requests at once from one address' },
  { flag: 'rate-per-ip', unit: 'n', variable: 'LILYPAD_SOLVER_RATE_PER_IP', field: 'perIpRate', help: 'unsigned or refused requests per second from one IP, on average' },
  { flag: 'burst-per-ip', unit: 'n', variable: 'LILYPAD_SOLVER_BURST_PER_IP', field: 'perIpBurst', help: 'unsigned or refused requests at once from one IP' },
] as const;

export type SolverTuningVariable = (typeof SOLVER_TUNING)[number]['variable'];
export type SolverTuningField = (typeof SOLVER_TUNING)[number]['field'];

/** `lilypad solver`'s settings. */
export const solverServiceSchema = z.object({
  ...chainConnection,
  LILYPAD_HOST: z.string().default('127.0.0.1'),
  LILYPAD_PORT: port.default(8080),
  LILYPAD_DATA_DIR: z.string().default(path.join(os.tmpdir(), 'lilypad', 'solver')),
  LILYPAD_SOLVER_DB: z.string().optional(),
  ...(Object.fromEntries(SOLVER_TUNING.map((t) => [t.variable, (t.unit === 's' ? msFromSeconds : positiveCount).optional()])) as Record<
    SolverTuningVariable,
    z.ZodOptional<typeof msFromSeconds>
  >),
});

/** The tuning fields that the settings give, by field name; those not given are left to the solver's defaults. */
export function solverTuningOf(settings: z.infer<typeof solverServiceSchema>): Partial<Record<SolverTuningField, number>> {
  const tuned: Partial<Record<SolverTuningField, number>> = {};
  for (const t of SOLVER_TUNING) {
    const value = settings[t.variable];
    if (value !== undefined) tuned[t.field] = value;
  }
  return tuned;
}
