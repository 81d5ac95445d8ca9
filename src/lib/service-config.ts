/**
 * Settings of the long-running services, by the seed's variable names (`WEB3_RPC_URL`, ...). Sources,
 * weakest first: the schema's defaults, a JSON config file, the environment, then command-line flags.
 */
import { readFileSync } from 'node:fs';
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
