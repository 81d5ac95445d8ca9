/**
 * Jobs that outlive a command: `lilypad run --detach` posts a job and returns; `lilypad jobs` lists the jobs
 * recorded on this machine (`~/.lilypad/jobs.db`, `LILYPAD_JOBS_DB`); `lilypad job ID` shows one as the
 * chain and the solver see it; `lilypad get ID` follows it to the end (download, verify, accept) — also a
 * job whose `lilypad run` was killed. `lilypad get CID` writes out any CID instead (`data.ts`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import { createPublicClient, formatEther, http, isAddressEqual, type Hex } from 'viem';
import { getDealState, redactRpcUrl } from '../chain/index.js';
import { defaultJobsDbPath, openJobStore, AmbiguousJobIdError, type JobStore, type StoredJob } from '../job-creator/job-store.js';
import { followJob, type JobResult } from '../job-creator/run-job.js';
import { JobError, UserInputError } from '../lib/errors.js';
import { blocksDir, configuredRpcUrl, defaultResultsDir } from '../lib/config.js';
import { isFinal, type OnChainDealState } from '../protocol/deal-states.js';
import { dealTimeoutSeconds, lpAmount, parseFlag } from '../lib/service-config.js';
import { completionLines, progressLine } from '../job-creator/progress-text.js';
import { connectJobNetwork, recordingJobOptions } from '../job-creator/configured-network.js';
import { runCommand } from './run.js';
import { getCid, parseCid } from './data.js';
import { stopSignal } from './signals.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';

/** The flags `lilypad run` takes for detaching and for the deal's terms. */
export interface RunFlags {
  detach?: boolean;
  submitTimeout?: string;
  judgeWindow?: string;
  minCollateral?: string;
}

function seconds(flag: string, value: string | undefined): bigint | undefined {
  return value === undefined ? undefined : parseFlag(dealTimeoutSeconds, flag, value);
}

export function dealTimeouts(flags: RunFlags): { submitTimeout?: bigint; judgeWindow?: bigint; minCollateral?: bigint } {
  return {
    submitTimeout: seconds('--submit-timeout', flags.submitTimeout),
    judgeWindow: seconds('--judge-window', flags.judgeWindow),
    minCollateral: flags.minCollateral === undefined ? undefined : parseFlag(lpAmount, '--min-collateral', flags.minCollateral),
  };
}

/** `lilypad run --detach`: posts the job, records it, prints its id (or one JSON object) and returns. */
export async function detachCommand(
  module: string,
  flags: RunFlags & { input: string[]; maxPrice: string; outputDir?: string; json?: boolean },
): Promise<void> {
  const posted = await runCommand({
    module,
    inputs: flags.input,
    maxPrice: flags.maxPrice,
    outputDir: flags.outputDir,
    env: process.env,
    signal: new AbortController().signal,
    onProgress: () => undefined,
    detach: true,
    ...dealTimeouts(flags),
  });
  if (flags.json) {
    process.stdout.write(JSON.stringify({ id: posted.jobOfferId, module, state: posted.state, reason: posted.reason }) + '\n');
    return;
  }
  process.stdout.write(`${posted.jobOfferId}\n`);
  process.stderr.write(
    posted.state === 'pending'
      ? `job posted, waiting for a match (${posted.reason}); \`lilypad get ${short(posted.jobOfferId)}\` fetches it\n`
      : `job posted and matched; \`lilypad get ${short(posted.jobOfferId)}\` fetches it\n`,
  );
}

function openJobs(): JobStore {
  return openJobStore(defaultJobsDbPath(process.env));
}

function findJob(jobs: JobStore, id: string): StoredJob {
  let job: StoredJob | undefined;
  try {
    job = jobs.find(id);
  } catch (error) {
    if (error instanceof AmbiguousJobIdError) throw new UserInputError(error.message, { code: 'input-malformed' });
    throw error;
  }
  if (!job) throw new UserInputError(`no job ${id} in ${defaultJobsDbPath(process.env)}; \`lilypad jobs\` lists them`, { code: 'job-not-found' });
  return job;
}

const short = (id: string) => id.slice(0, 12);
const notice = (line: string) => process.stderr.write(`lilypad: ${line}\n`);

/** Writes down what the chain just said of a job's deal, so that `lilypad jobs` shows it too. */
function writeDownChainState(id: Hex, state: OnChainDealState): void {
  const jobs = openJobs();
  try {
    jobs.setChainState(id, state);
  } finally {
    jobs.close();
  }
}

/**
 * A job whose deal may still move: not finished here (`done`, `failed`) and not in a final state when the
 * chain was last read. Only these are read again, so `lilypad jobs` costs one read per open job.
 */
function isOpen(job: StoredJob): boolean {
  if (job.stage === 'done' || job.stage === 'failed') return false;
  return job.chain === undefined || job.chain === 'none' || !isFinal(job.chain);
}

/** What `lilypad jobs` shows: the deal's state on chain once it has one, else how far this machine got. */
function shownState(job: StoredJob): string {
  if (job.stage === 'done' || job.stage === 'failed') return job.stage;
  return job.chain === undefined || job.chain === 'none' ? job.stage : job.chain;
}

/** How long `lilypad jobs` waits for the chain, for each read, before it shows the recorded stages. */
const CHAIN_READ_TIMEOUT_MS = 5_000;

/**
 * Reads each open job's deal state from the chain that WEB3_RPC_URL names (one read each, all at once,
 * each bounded by CHAIN_READ_TIMEOUT_MS) and writes it down, so that the list is never behind what
 * `lilypad job ID` shows. A job that cannot be read keeps its recorded stage, and `notice` says so once;
 * with no network configured the recorded stages are shown as they are.
 */
async function followChain(jobs: JobStore, open: StoredJob[], env: NodeJS.ProcessEnv, notice: (line: string) => void): Promise<void> {
  if (open.length === 0) return;
  const count = (n: number) => (n === 1 ? '1 open job shows its' : `${n} open jobs show their`);
  const rpcUrl = configuredRpcUrl(env);
  // Nothing configured is not a failure to report: `lilypad jobs | head` stays quiet, and `lilypad job ID`
  // would know no more.
  if (rpcUrl === undefined) return;
  const shownUrl = redactRpcUrl(rpcUrl);
  // Not the project's chain client: that one waits up to LILYPAD_RPC_WAIT for a chain to come back, and a list
  // must answer in a few seconds, so each read here is tried once.
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0, timeout: CHAIN_READ_TIMEOUT_MS }) });
  let chainId: number;
  try {
    chainId = await client.getChainId();
  } catch {
    notice(`${count(open.length)} recorded stage: the chain at ${shownUrl} cannot be reached`);
    return;
  }
  const here = open.filter((job) => job.network.chainId === chainId);
  const elsewhere = open.length - here.length;
  if (elsewhere > 0) notice(`${count(elsewhere)} recorded stage: posted on another chain than ${shownUrl} (chain ${chainId})`);
  const reads = await Promise.allSettled(here.map((job) => getDealState(client, { deals: job.network.dealsAddress, dealId: job.id })));
  let unread = 0;
  reads.forEach((read, i) => {
    if (read.status === 'fulfilled') jobs.setChainState(here[i]!.id, read.value);
    else unread++;
  });
  if (unread > 0) notice(`${count(unread)} recorded stage: reading ${unread === 1 ? 'its deal' : 'their deals'} from the chain at ${shownUrl} failed`);
}
const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/**
 * Where a job's result is: the folder it was written to; else this machine's lasting blockstore, where every
 * download is kept (`lilypad get CID` writes it out again); else its provider, which says in its signed offer
 * how long it keeps results after the deal ends.
 */
export type ResultLocation =
  | { folder: string }
  | { blocks: string }
  /** `keptUntil` (ms): the least the provider promised; absent when its offer promised nothing. */
  | { provider: string; keptUntil?: number };

async function resultLocations(jobs: StoredJob[], env: NodeJS.ProcessEnv): Promise<Map<Hex, ResultLocation>> {
  const locations = new Map<Hex, ResultLocation>();
  const withResult = jobs.filter((job) => job.cid !== undefined);
  const blocks = blocksDir(env);
  // Looked into only where it exists: listing jobs creates nothing.
  const blockstore = withResult.length > 0 && existsSync(blocks) ? await openBlockstore(blocks) : undefined;
  try {
    for (const job of withResult) {
      if (job.dir && existsSync(job.dir)) locations.set(job.id, { folder: job.dir });
      else if (blockstore && (await blockstore.has(CID.parse(job.cid!)).catch(() => false))) locations.set(job.id, { blocks });
      else if (job.deal) {
        const keptFor = job.deal.resourceOffer.details.resultsKeptSeconds;
        // The deal ended after the offer was made, so this is the least the provider promised; nothing
        // recorded here is sure to come before the deal's end but the job's creation.
        locations.set(job.id, { provider: job.deal.resourceOffer.details.resultsUrl, ...(keptFor === undefined ? {} : { keptUntil: job.createdAt + keptFor * 1000 }) });
      }
    }
  } finally {
    if (blockstore) await closeBlockstore(blockstore);
  }
  return locations;
}

/** The RESULT column: one short phrase. */
function shownLocation(location: ResultLocation | undefined, now: number): string {
  if (!location) return '';
  if ('folder' in location) return location.folder;
  if ('blocks' in location) return `blocks in ${location.blocks}`;
  if (location.keptUntil === undefined) return 'at the provider (no keeping time stated)';
  return location.keptUntil > now
    ? `at the provider until at least ${when(location.keptUntil)}`
    : `at the provider until at least ${when(location.keptUntil)}, may be gone`;
}

export function registerJobCommands(program: Command): void {
  program
    .command('jobs')
    .description('list the jobs run from this machine (LILYPAD_JOBS_DB, default ~/.lilypad/jobs.db)')
    .option('--json', 'print JSON lines')
    .action(async (flags: { json?: boolean }) => {
      const jobs = openJobs();
      try {
        await followChain(jobs, jobs.list().filter(isOpen), process.env, notice);
        const all = jobs.list();
        const locations = await resultLocations(all, process.env);
        if (flags.json) {
          for (const job of all) {
            process.stdout.write(
              JSON.stringify({ id: job.id, module: job.module, inputs: job.inputs, stage: job.stage, chain: job.chain, cid: job.cid, dir: job.dir, result: locations.get(job.id), error: job.error, createdAt: job.createdAt }) + '\n',
            );
          }
          return;
        }
        if (all.length === 0) {
          process.stdout.write('no jobs yet: `lilypad run --detach MODULE` posts one\n');
          return;
        }
        const cidWidth = Math.max(5, ...all.map((job) => (job.cid?.length ?? 0) + 2));
        process.stdout.write(`${'ID'.padEnd(14)}${'MODULE'.padEnd(22)}${'STATE'.padEnd(12)}${'CREATED'.padEnd(21)}${'CID'.padEnd(cidWidth)}RESULT\n`);
        const now = Date.now();
        for (const job of all) {
          const state = shownState(job);
          const location = shownLocation(locations.get(job.id), now);
          process.stdout.write(`${short(job.id).padEnd(14)}${job.module.padEnd(22)}${state.padEnd(Math.max(12, state.length + 2))}${when(job.createdAt).padEnd(21)}${(job.cid ?? '').padEnd(cidWidth)}${location}`.trimEnd() + '\n');
        }
      } finally {
        jobs.close();
      }
    });

  program
    .command('job')
    .description('show a job: what this machine recorded, and its deal as the chain and the solver see it')
    .argument('<id>', 'the job id (or its start)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const jobs = openJobs();
      let job: StoredJob;
      try {
        job = findJob(jobs, id);
      } finally {
        jobs.close();
      }
      const network = await connectJobNetwork(process.env, job, notice);
      try {
        const onChain = await network.components.readDeal(job.id);
        writeDownChainState(job.id, onChain.state);
        const solverState = await network.components.solver
          .getDeal(job.id)
          .then((deal) => deal.state as string)
          .catch(() => 'unknown to the solver (or not matched yet)');
        const shown = {
          id: job.id,
          module: job.module,
          inputs: job.inputs,
          recorded: job.stage,
          chain: onChain.state,
          solver: solverState,
          resourceProvider: onChain.state === 'none' ? undefined : onChain.resourceProvider,
          price: onChain.state === 'none' ? undefined : onChain.price.toString(),
          deadline: onChain.state === 'none' ? undefined : Number(onChain.deadline),
          cid: onChain.resultCid || job.cid,
          dir: job.dir,
          result: (await resultLocations([job], process.env)).get(job.id),
          error: job.error,
        };
        if (flags.json) {
          process.stdout.write(JSON.stringify(shown) + '\n');
          return;
        }
        const lines = [
          `job       ${job.id}`,
          `module    ${job.module} ${Object.entries(job.inputs).map(([k, v]) => `${k}=${v}`).join(' ')}`,
          `here      ${job.stage}${job.error ? ` (${job.error})` : ''}`,
          `chain     ${onChain.state}${onChain.state === 'none' ? '' : `, deadline ${when(Number(onChain.deadline) * 1000)}`}`,
          `solver    ${solverState}`,
        ];
        if (onChain.state !== 'none') lines.push(`provider  ${onChain.resourceProvider} for ${formatEther(onChain.price)} LP`);
        if (shown.cid) lines.push(`CID       ${shown.cid}`);
        if (job.dir) lines.push(`folder    ${job.dir}`);
        if (shown.result && !('folder' in shown.result)) lines.push(`result    ${shownLocation(shown.result, Date.now())}`);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await network.close();
      }
    });

  program
    .command('get')
    .description('follow a job to the end (download and verify its result, accept it, write the folder, print its output), or write out any CID, verified')
    .argument('<id>', 'the job id (or its start), or a CID')
    .option('--output-dir <dir>', 'where result folders are written (default: <tmp>/lilypad/data/downloaded-files)')
    .option('--gateway <url>', 'for a CID: a trustless gateway to fetch missing blocks from (repeatable; default: this machine\'s blockstore only)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--json', 'print one JSON object instead of progress lines')
    .action(async (id: string, flags: { outputDir?: string; gateway: string[]; json?: boolean }) => {
      const cid = parseCid(id);
      if (cid) {
        const got = await getCid(cid, flags, stopSignal());
        process.stdout.write(flags.json ? JSON.stringify(got) + '\n' : `${got.path}\n`);
        return;
      }
      const say = (line: string) => {
        if (!flags.json) process.stdout.write(line + '\n');
      };
      const controller = new AbortController();
      const cancel = () => controller.abort();
      process.once('SIGINT', cancel);
      process.once('SIGTERM', cancel);
      const jobs = openJobs();
      try {
        const job = findJob(jobs, id);
        const resultsDir = path.resolve(flags.outputDir ?? defaultResultsDir());
        const network = await connectJobNetwork(process.env, job, notice);
        let result: JobResult;
        try {
          const account = network.components.chain.walletClient.account.address;
          if (!isAddressEqual(job.offer.terms.jobCreator, account)) {
            throw new UserInputError(`job ${short(job.id)} belongs to ${job.offer.terms.jobCreator}, not to this key's ${account}`, { code: 'job-not-yours' });
          }
          const options = recordingJobOptions(jobs, network, {
            module: job.module,
            inputs: job.inputs,
            maxPrice: job.offer.terms.maxPrice,
            mediators: job.offer.terms.mediators,
            resultsDir,
            knownDeal: job.deal,
            signal: controller.signal,
            onProgress: (event) => {
              const line = progressLine(event);
              if (line) say(line);
            },
          });
          // followJob records through onOffer only for new jobs; this one is known, so mark it by hand.
          await options.onOffer?.(job.offer, job.id);
          result = await followJob(job.offer, options, network.components).catch((error) => {
            if (error instanceof JobError && error.code !== 'cancelled') jobs.setStage(job.id, 'failed', { error: error.message });
            throw error;
          });
        } finally {
          await network.close();
        }
        if (flags.json) {
          process.stdout.write(
            JSON.stringify({ id: job.id, module: job.module, dealId: result.dealId, cid: result.cid, dir: result.dir, exitCode: result.exitCode, stdout: result.stdout, resourceProvider: result.resourceProvider, price: result.price.toString(), state: result.state }) + '\n',
          );
        } else {
          for (const line of completionLines(result)) say(line);
          say('');
          process.stdout.write(result.stdout);
        }
      } finally {
        jobs.close();
        process.off('SIGINT', cancel);
        process.off('SIGTERM', cancel);
      }
    });
}
