/**
 * Configuration of `lilypad run`, from the seed's environment variables (overridden by flags). Parsed
 * once, in cli/. When WEB3_RPC_URL is not set, the CLI starts an embedded network instead.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UserInputError } from './errors.js';
import { address, blockNumber, privateKey } from './service-config.js';

const networkSchema = z.object({
  WEB3_RPC_URL: z.string().url('must be a URL such as http://127.0.0.1:8545'),
  WEB3_PRIVATE_KEY: privateKey,
  SERVICE_SOLVER: z.string().url('must be the solver URL, such as http://127.0.0.1:8080'),
  SERVICE_MEDIATORS: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(address).min(1, 'must name at least one mediator address')),
  LILYPAD_DEALS_ADDRESS: address,
});

export type NetworkConfig = z.infer<typeof networkSchema>;

export const networkVariables = Object.keys(networkSchema.shape) as Array<keyof NetworkConfig>;

/** The RPC URL alone: enough to know whether a network is configured and reachable. */
export function configuredRpcUrl(env: NodeJS.ProcessEnv): string | undefined {
  return env.WEB3_RPC_URL || undefined;
}

export function parseNetworkConfig(env: NodeJS.ProcessEnv): NetworkConfig {
  const missing = networkVariables.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new UserInputError(
      `WEB3_RPC_URL is set, so lilypad uses that network, but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set; ` +
        'set them, or unset WEB3_RPC_URL to run on an embedded local network',
      { code: 'config-missing', details: { missing } },
    );
  }
  const parsed = networkSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UserInputError(`${String(issue.path[0])} ${issue.message}`, { code: 'config-invalid' });
  }
  return parsed.data;
}

/**
 * The first block that can hold a deal of the configured deal contract (`LILYPAD_DEALS_FROM_BLOCK`: its
 * deployment block), from which a reader of the market (the studio's dashboard) scans its logs; 0, the
 * chain's start, when not set. Set it on a long chain, so that the first scan does not walk blocks that
 * hold no deal.
 */
export function dealsFromBlock(env: NodeJS.ProcessEnv): bigint {
  const value = env.LILYPAD_DEALS_FROM_BLOCK;
  if (!value) return 0n;
  const parsed = blockNumber.safeParse(value);
  if (!parsed.success) throw new UserInputError(`LILYPAD_DEALS_FROM_BLOCK ${parsed.error.issues[0]!.message}`, { code: 'config-invalid' });
  return parsed.data;
}

export function defaultResultsDir(): string {
  return path.join(os.tmpdir(), 'lilypad', 'data', 'downloaded-files');
}

/**
 * The job creator's lasting blockstore (`LILYPAD_BLOCKS_DIR`, default `~/.lilypad/blocks`): what `lilypad add`
 * kept and the results it downloaded, on the embedded network or a configured one, so a later command can
 * serve or read them (`lilypad get CID`) after the provider's keeping time, and `lilypad jobs` can say so.
 */
export function blocksDir(env: NodeJS.ProcessEnv): string {
  return path.resolve(env.LILYPAD_BLOCKS_DIR || path.join(os.homedir(), '.lilypad', 'blocks'));
}
