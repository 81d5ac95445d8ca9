/**
 * `lilypad run MODULE -i KEY=VALUE`: runs one job, on the configured network or, with nothing
 * configured, on an embedded network started for this job and torn down afterwards.
 */
import path from 'node:path';
import { parseEther, type Address } from 'viem';
import { connectChain, fetchChainId } from '../chain/index.js';
import { runCheckedJob } from '../job-creator/audit.js';
import type { CheckProgressEvent } from '../job-creator/verify.js';
import { type JobProgressEvent, type JobResult } from '../job-creator/run-job.js';
import { UserInputError } from '../lib/errors.js';
import { configuredRpcUrl, defaultResultsDir, parseNetworkConfig } from '../lib/config.js';
import { renderModule } from '../module/render.js';
import { createModuleResolver } from '../module/resolve.js';
import { startEmbeddedNetwork } from '../network/embedded.js';
import { chainReadDeal } from '../network/read-deal.js';
import { createSolverClient } from '../solver/client.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';

export interface RunCommandOptions {
  module: string;
  inputs: string[];
  maxPrice: string;
  outputDir?: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onProgress: (event: JobProgressEvent) => void;
  /** `--verify`: re-run here and challenge a differing result; `--audit`: do so for a computed share of jobs. */
  verify?: boolean;
  audit?: boolean;
  onCheck?: (event: CheckProgressEvent) => void;
}

export function parseInputs(pairs: string[]): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) {
      throw new UserInputError(`-i ${pair}: inputs are KEY=VALUE, for example -i Message=moo`, { code: 'input-malformed' });
    }
    inputs[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return inputs;
}

function parseMaxPrice(value: string) {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UserInputError(`--max-price ${value}: expected an amount of LP such as 10 or 2.5`, { code: 'input-malformed' });
  return parseEther(value);
}

export async function runCommand(options: RunCommandOptions): Promise<JobResult> {
  const inputs = parseInputs(options.inputs);
  const maxPrice = parseMaxPrice(options.maxPrice);
  const resultsDir = path.resolve(options.outputDir ?? defaultResultsDir());
  const rpcUrl = configuredRpcUrl(options.env);
  const modules = createModuleResolver();

  // Check the module and inputs before starting or contacting any network.
  const module = await modules.resolve(options.module);
  renderModule(options.module, module.template, inputs);

  if (rpcUrl === undefined) {
    const network = await startEmbeddedNetwork();
    try {
      const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const blockstore = await openBlockstore(path.join(network.dataDir, 'job-creator', 'blocks'));
      try {
        return await runCheckedJob(
          options,
          { module: options.module, inputs, maxPrice, mediators: network.mediators, resultsDir, signal: options.signal, onProgress: options.onProgress },
          { chain, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore },
        );
      } finally {
        await closeBlockstore(blockstore);
      }
    } finally {
      await network.stop();
    }
  }

  const chainId = await fetchChainId(rpcUrl);
  const config = parseNetworkConfig(options.env);
  const chain = await connectChain({ rpcUrl: config.WEB3_RPC_URL, privateKey: config.WEB3_PRIVATE_KEY as `0x${string}`, chainId });
  const dealsAddress = config.LILYPAD_DEALS_ADDRESS as Address;
  const blockstore = await openBlockstore(path.join(path.dirname(resultsDir), 'blocks'));
  try {
    return await runCheckedJob(
      options,
      { module: options.module, inputs, maxPrice, mediators: config.SERVICE_MEDIATORS as Address[], resultsDir, signal: options.signal, onProgress: options.onProgress },
      {
        chain,
        domain: { chainId, dealsAddress },
        solver: createSolverClient(config.SERVICE_SOLVER),
        modules,
        readDeal: chainReadDeal(chain.publicClient, dealsAddress),
        blockstore,
      },
    );
  } finally {
    await closeBlockstore(blockstore);
  }
}
