/**
 * Settings of the long-running services, by the seed's variable names (`WEB3_RPC_URL`, ...). Sources,
 * weakest first: the schema's defaults, a JSON config file, the environment, then command-line flags.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserInputError } from './errors.js';

export const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address');
export const privateKey = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex digits');
export const addressList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(address).min(1, 'must name at least one address'));
export const port = z.coerce.number().int().min(0).max(65535);

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
