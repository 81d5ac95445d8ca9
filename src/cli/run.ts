/**
 * `lilypad run MODULE -i KEY=VALUE`: runs one job, on the configured network or, with nothing
 * configured, on an embedded network started for this job and torn down afterwards. An input given as
 * `@PATH` is added to the lasting blockstore first and passed as its CID (`data.ts`).
 */
import path from 'node:path';
import { formatEther, type Address } from 'viem';
import { connectChain, escrowBalance } from '../chain/index.js';
import { runCheckedJob } from '../job-creator/audit.js';
import type { CheckProgressEvent } from '../job-creator/verify.js';
import { defaultJobsDbPath, openJobStore } from '../job-creator/job-store.js';
import { postJob, type JobCreatorComponents, type JobProgressEvent, type JobResult, type RunJobOptions } from '../job-creator/run-job.js';
import { connectConfiguredNetwork, recordingJobOptions, type PostedJob } from './configured-network.js';
import { addLocalInputs, findLocalInputs } from './data.js';
import { UserInputError } from '../lib/errors.js';
import { blocksDir, configuredRpcUrl, defaultResultsDir } from '../lib/config.js';
import { lpAmount, parseFlag } from '../lib/service-config.js';
import { parseInputs } from '../protocol/inputs.js';
import { moduleLocationsOf } from '../module/git.js';
import { gatewayInputSource } from '../module/input-source.js';
import { renderModule } from '../module/render.js';
import { createModuleResolver } from '../module/resolve.js';
import { startEmbeddedNetwork } from '../network/embedded.js';
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
  /** Deal timeouts (s) the offer asks for; defaults in `defaultDealTimeouts`. */
  submitTimeout?: bigint;
  judgeWindow?: bigint;
  /** The least collateral (LP wei) a provider must lock; default 0. */
  minCollateral?: bigint;
  /** Post the offer, record the job and return without following it (configured networks only). */
  detach?: boolean;
}

export async function runCommand(options: RunCommandOptions & { detach: true }): Promise<PostedJob>;
export async function runCommand(options: RunCommandOptions): Promise<JobResult>;
export async function runCommand(options: RunCommandOptions): Promise<JobResult | PostedJob> {
  const given = await findLocalInputs(parseInputs(options.inputs, { flag: '-i' }));
  const maxPrice = parseFlag(lpAmount, '--max-price', options.maxPrice);
  const resultsDir = path.resolve(options.outputDir ?? defaultResultsDir());
  const rpcUrl = configuredRpcUrl(options.env);
  const modules = createModuleResolver({ env: options.env });
  if (rpcUrl === undefined && options.detach) {
    throw new UserInputError('--detach needs a configured network (WEB3_RPC_URL and the rest): the embedded network ends with the command', { code: 'input-malformed' });
  }
  const [localInput] = given.paths.keys();
  if (rpcUrl !== undefined && localInput !== undefined) {
    // Nothing serves this machine's blocks to a configured network's providers yet: the job would be paid for and fail.
    throw new UserInputError(
      `-i ${localInput}=@${given.paths.get(localInput)}: local data reaches only the embedded network for now; on a configured network give a CID that its providers' gateways (LILYPAD_INPUT_GATEWAYS) serve`,
      { code: 'input-unreachable' },
    );
  }
  // The embedded network's job creator keeps its blocks where `lilypad add` does: what was added, in an earlier
  // command or by @PATH now, is what its gateway serves the provider, and results stay for the next command.
  const blockstore = rpcUrl === undefined ? await openBlockstore(blocksDir(options.env)) : undefined;
  try {
    const inputs = blockstore ? await addLocalInputs(given.inputs, given.paths, blockstore) : given.inputs;

    // Check the module and inputs before starting or contacting any network.
    const module = await modules.resolve(options.module);
    renderModule(options.module, module.template, inputs);

    const jobOptionsFor = (mediators: Address[]): RunJobOptions => ({
      module: options.module,
      inputs,
      maxPrice,
      mediators,
      resultsDir,
      signal: options.signal,
      onProgress: options.onProgress,
      submitTimeout: options.submitTimeout,
      judgeWindow: options.judgeWindow,
      minCollateral: options.minCollateral,
    });

    if (blockstore) {
      const network = await startEmbeddedNetwork({ moduleLocations: moduleLocationsOf(options.env), inputsBlockstore: blockstore });
      try {
        options.signal.throwIfAborted();
        const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
        // One provider that nothing can change: an offer it cannot take fails now, not after the offer's life.
        return await runCheckedJob(options, { ...jobOptionsFor(network.mediators), failWhenUnmatched: true }, {
          chain,
          domain: network.domain,
          solver: createSolverClient(network.solverUrl),
          modules: network.modules,
          readDeal: network.readDeal,
          blockstore,
          // A re-run here (--verify, --audit) reads the inputs from the same blocks the provider was served.
          inputs: { source: gatewayInputSource(network.inputGateways, blockstore), blockstore },
        });
      } finally {
        await network.stop();
      }
    }

    const network = await connectConfiguredNetwork(options.env);
    // On a configured network the job is recorded before its offer is sent: `lilypad get ID` finishes it if
    // this process dies.
    const jobs = openJobStore(defaultJobsDbPath(options.env));
    try {
      await checkEscrowCovers(network.components, maxPrice);
      const recorded = recordingJobOptions(jobs, network, jobOptionsFor(network.mediators));
      if (options.detach) return await postJob(recorded, network.components);
      return await runCheckedJob(options, recorded, network.components);
    } finally {
      jobs.close();
      await network.close();
    }
  } finally {
    if (blockstore) await closeBlockstore(blockstore);
  }
}

/**
 * Fails at once when the job creator's free escrow cannot pay a provider that charges the price ceiling:
 * such an offer could never be agreed, and the user would wait out its whole life to learn why.
 */
async function checkEscrowCovers(components: JobCreatorComponents, maxPrice: bigint): Promise<void> {
  const account = components.chain.walletClient.account.address;
  const { free } = await escrowBalance(components.chain.publicClient, { deals: components.domain.dealsAddress, account });
  if (free >= maxPrice) return;
  throw new UserInputError(
    `the escrow of ${account} holds ${formatEther(free)} LP, less than --max-price ${formatEther(maxPrice)} LP: deposit LP into the deal contract (lilypad faucet ${account} on a local network) or lower --max-price`,
    { code: 'escrow-too-small' },
  );
}
