/**
 * `lilypad challenge DEAL`: the job creator disputes a deal's results within its judge window. It pays
 * the mediation fee from its escrow; the mediator drawn on chain re-runs the job and rules. Right results:
 * the provider is paid and the fee is gone; wrong results: the payment and the provider's collateral come
 * to the job creator. Uses the configured network (WEB3_RPC_URL, WEB3_PRIVATE_KEY, SERVICE_SOLVER, ...).
 */
import type { Command } from 'commander';
import type { Address, Hex } from 'viem';
import { connectChain, fetchChainId } from '../chain/index.js';
import { challengeDeal, type ChallengeDealResult } from '../job-creator/verify.js';
import type { JobProgressEvent } from '../job-creator/run-job.js';
import { configuredRpcUrl, parseNetworkConfig } from '../lib/config.js';
import { UserInputError } from '../lib/errors.js';
import { chainReadDeal } from '../network/read-deal.js';
import { createSolverClient } from '../solver/client.js';
import { progressLine } from '../job-creator/progress-text.js';

export async function challengeCommand(
  dealId: string,
  options: { wait: boolean; env: NodeJS.ProcessEnv; signal?: AbortSignal; onProgress?: (event: JobProgressEvent) => void },
): Promise<ChallengeDealResult> {
  if (!/^0x[0-9a-fA-F]{64}$/.test(dealId)) throw new UserInputError(`challenge: ${dealId} is not a deal id (0x and 64 hex digits)`, { code: 'input-malformed' });
  const rpcUrl = configuredRpcUrl(options.env);
  if (rpcUrl === undefined) {
    throw new UserInputError('challenge: no network is configured (WEB3_RPC_URL); a job on the embedded network is over when `lilypad run` returns', { code: 'config-missing' });
  }
  const config = parseNetworkConfig(options.env);
  const chainId = await fetchChainId(rpcUrl);
  const chain = await connectChain({ rpcUrl: config.WEB3_RPC_URL, privateKey: config.WEB3_PRIVATE_KEY as Hex, chainId });
  const dealsAddress = config.LILYPAD_DEALS_ADDRESS as Address;
  return await challengeDeal(
    dealId as Hex,
    { chain, domain: { chainId, dealsAddress }, solver: createSolverClient(config.SERVICE_SOLVER), readDeal: chainReadDeal(chain.publicClient, dealsAddress) },
    { wait: options.wait, signal: options.signal, onProgress: options.onProgress },
  );
}

export function registerChallengeCommand(program: Command): void {
  program
    .command('challenge')
    .description('dispute a deal\'s results: a mediator re-runs the job (you pay the mediation fee; a cheat loses its collateral to you)')
    .argument('<deal>', 'the deal id (lilypad run --json prints it)')
    .option('--no-wait', 'return once the challenge is on chain, without waiting for the ruling')
    .option('--json', 'print one JSON object instead of progress lines')
    .action(async (dealId: string, flags: { wait: boolean; json?: boolean }) => {
      const controller = new AbortController();
      const cancel = () => controller.abort();
      process.once('SIGINT', cancel);
      try {
        const result = await challengeCommand(dealId, {
          wait: flags.wait,
          env: process.env,
          signal: controller.signal,
          onProgress: (event) => {
            const line = progressLine(event);
            if (line && !flags.json) process.stdout.write(line + '\n');
          },
        });
        if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
      } finally {
        process.off('SIGINT', cancel);
      }
    });
}
