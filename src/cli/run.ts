/**
 * `lilypad run MODULE -i KEY=VALUE`: runs one job, on the configured network or, with nothing
 * configured, on an embedded network started for this job and torn down afterwards (`job-network.ts`). An
 * input given as `@PATH` is added to the lasting blockstore first and passed as its CID (`data.ts`); this
 * command's IPFS node serves that blockstore to the providers while the job runs.
 */
import path from 'node:path';
import type { CheckProgressEvent } from '../job-creator/verify.js';
import type { JobProgressEvent, JobResult } from '../job-creator/run-job.js';
import type { PostedJob } from '../job-creator/configured-network.js';
import { addLocalInputs, findLocalInputs } from './data.js';
import { openJobNetwork, type JobRequest } from '../job-creator/job-network.js';
import { UserInputError } from '../lib/errors.js';
import { blocksDir, configuredRpcUrl, defaultResultsDir } from '../lib/config.js';
import { lpAmount, parseFlag } from '../lib/service-config.js';
import { parseInputs } from '../protocol/inputs.js';
import { renderJob } from '../module/render.js';
import { createModuleResolver } from '../module/resolve.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';
import { endsOnStop } from '../lib/stop-steps.js';

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
  if (options.detach && localInput !== undefined) {
    throw new UserInputError(`-i ${localInput}=@${given.paths.get(localInput)} with --detach: local data is served by this command's IPFS node, which ends when it returns; run it without --detach`, { code: 'input-unreachable' });
  }
  // The job creator keeps its blocks where `lilypad add` does: what was added, in an earlier command or by
  // @PATH now, is what its IPFS node serves the providers, and results stay for the next command.
  const blockstore = await openBlockstore(blocksDir(options.env));
  try {
    // Check the module and inputs (as the module declares them) before starting or contacting any network.
    const module = await modules.resolve(options.module);
    const { inputs } = renderJob(module, await addLocalInputs(given.inputs, given.paths, blockstore));

    const job: JobRequest = {
      module: options.module,
      inputs,
      maxPrice,
      onProgress: options.onProgress,
      submitTimeout: options.submitTimeout,
      judgeWindow: options.judgeWindow,
      minCollateral: options.minCollateral,
    };
    const localData = localInput === undefined ? undefined : `-i ${localInput}=@${given.paths.get(localInput)}`;
    const network = await openJobNetwork({ env: options.env, resultsDir, signal: options.signal, blockstore, localData });
    try {
      if (options.detach) return await network.post(job);
      return await endsOnStop('the job', options.signal, network.run(job, options));
    } finally {
      await network.close();
    }
  } finally {
    await closeBlockstore(blockstore);
  }
}
