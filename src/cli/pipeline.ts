/**
 * `lilypad pipeline run FILE`: runs a pipeline file's steps (`job-creator/pipeline.ts`) on one network, the
 * embedded one or the configured one (`job-network.ts`), prints each step's progress and a table of the steps
 * with their CIDs; run again, it resumes where it stopped. `lilypad pipeline show FILE` prints what this
 * machine recorded of the file's steps.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import { defaultJobsDbPath, openJobStore } from '../job-creator/job-store.js';
import { checkPipeline, parsePipeline, pipelineFailure, runPipeline, type Pipeline, type PipelineEvent, type PipelineStepRecord, type StepOutcome } from '../job-creator/pipeline.js';
import { UserInputError } from '../lib/errors.js';
import { blocksDir, configuredRpcUrl, defaultResultsDir } from '../lib/config.js';
import { lpAmount, parseFlag } from '../lib/service-config.js';
import { createModuleResolver } from '../module/resolve.js';
import { closeBlockstore, openBlockstore, type FsBlockstore } from '../storage/index.js';
import { addPath } from './data.js';
import { EMBEDDED_NETWORK_IDENTITY, openJobNetwork, type JobNetwork } from '../job-creator/job-network.js';
import { progressLine } from '../job-creator/progress-text.js';
import { stopSignal } from './signals.js';

export interface PipelineCommandOptions {
  file: string;
  maxPrice: string;
  outputDir?: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  onEvent?: (event: PipelineEvent) => void;
}

/** Reads and checks a pipeline file: one line for a file that is missing or malformed. */
async function readPipeline(file: string): Promise<Pipeline> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UserInputError(`pipeline ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, { code: 'path-missing' });
  });
  return parsePipeline(text, file);
}

/**
 * Checks the whole pipeline (file, modules, local data) before any network is started or job posted, then
 * runs its steps on one network and returns each step's outcome, in dependency order.
 */
export async function pipelineCommand(options: PipelineCommandOptions): Promise<StepOutcome[]> {
  const maxPrice = parseFlag(lpAmount, '--max-price', options.maxPrice);
  const resultsDir = path.resolve(options.outputDir ?? defaultResultsDir());
  const pipeline = await checkPipeline(await readPipeline(options.file), createModuleResolver({ env: options.env }));
  const embedded = configuredRpcUrl(options.env) === undefined;
  const local = pipeline.steps.flatMap((step) => Object.entries(step.inputs).filter(([, input]) => input.kind === 'local').map(([key]) => `${step.name}.${key}`));
  // The job creator's blocks are the lasting ones: local data added here, and each step's result downloaded
  // into them, are what its IPFS node serves to the providers of the steps after.
  const blockstore: FsBlockstore = await openBlockstore(blocksDir(options.env));
  const jobs = openJobStore(defaultJobsDbPath(options.env));
  try {
    // Opened when the first step needs to run, so a pipeline whose steps were all done earlier starts nothing.
    let opened: Promise<JobNetwork> | undefined;
    const localData = local.length > 0 ? `step input ${local[0]} (@PATH)` : undefined;
    const network = () => (opened ??= openJobNetwork({ env: options.env, resultsDir, signal: options.signal, blockstore, localData }));
    try {
      return await runPipeline(
        pipeline,
        {
          store: jobs,
          networkIdentity: embedded ? EMBEDDED_NETWORK_IDENTITY : (await network()).identity,
          addLocalPath: async (localPath) => (await addPath(localPath, blockstore, `pipeline ${options.file}: @${localPath}`)).cid,
          // An embedded network's results live only here; a configured network's provider still keeps them.
          hasResult: embedded ? (cid) => blockstore.has(CID.parse(cid)) : undefined,
          async runStep(run) {
            const job = {
              module: run.step.module,
              // A folder per step: two steps may make the same result (jobs are pure functions of their
              // inputs), and two downloads at once into one <cid> folder would trip over each other.
              resultsDir: path.join(resultsDir, run.step.name),
              inputs: run.inputs,
              maxPrice,
              onProgress: run.onProgress,
              onOffer: (_offer: unknown, jobId: `0x${string}`) => run.onPosted(jobId),
            };
            const followed = run.unfinishedJobId ? await (await network()).follow(run.unfinishedJobId, job) : undefined;
            return followed ?? (await (await network()).run(job));
          },
        },
        { signal: options.signal, onEvent: options.onEvent },
      );
    } finally {
      // One that failed to open has closed what it had started.
      const started = await opened?.catch(() => undefined);
      await started?.close();
    }
  } finally {
    jobs.close();
    await closeBlockstore(blockstore);
  }
}

const STATE_SHOWN: Record<StepOutcome['state'], string> = { done: 'done', 'done-earlier': 'done earlier', failed: 'failed', 'not-run': 'not run' };

/** One line of a step's progress, prefixed with its name since independent steps run at once. */
function eventLine(event: PipelineEvent): string | undefined {
  switch (event.type) {
    case 'step:started':
      return event.rerun === 'following'
        ? `[${event.step}] following its job posted earlier`
        : event.rerun === 'blocks-missing'
          ? `[${event.step}] done earlier, but its result's blocks are gone from this machine: running it again`
          : undefined;
    case 'step:progress': {
      const line = progressLine(event.event);
      return line && `[${event.step}] ${line}`;
    }
    case 'step:ended': {
      const { outcome } = event;
      if (outcome.state === 'done' || outcome.state === 'done-earlier') return `[${outcome.name}] ${STATE_SHOWN[outcome.state]}: ${outcome.cid}`;
      return `[${outcome.name}] ${STATE_SHOWN[outcome.state]}: ${outcome.error}`;
    }
  }
}

function table(rows: Array<{ step: string; module: string; state: string; cid?: string }>): string {
  const width = (pick: (row: (typeof rows)[number]) => string, title: string) => Math.max(title.length, ...rows.map((row) => pick(row).length)) + 2;
  const stepWidth = width((row) => row.step, 'STEP');
  const moduleWidth = width((row) => row.module, 'MODULE');
  const stateWidth = width((row) => row.state, 'STATE');
  const lines = [`${'STEP'.padEnd(stepWidth)}${'MODULE'.padEnd(moduleWidth)}${'STATE'.padEnd(stateWidth)}CID`];
  for (const row of rows) lines.push(`${row.step.padEnd(stepWidth)}${row.module.padEnd(moduleWidth)}${row.state.padEnd(stateWidth)}${row.cid ?? ''}`);
  return lines.join('\n') + '\n';
}

export function registerPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('run chains of jobs named in a file, where a step\'s inputs name earlier steps\' results');

  pipeline
    .command('run')
    .description('run a pipeline file\'s steps in dependency order (independent ones at once); run again, it resumes where it stopped')
    .argument('<file>', 'a pipeline file (JSON): {"steps": {"NAME": {"module": "...", "inputs": {"KEY": "VALUE or ${{ steps.NAME.cid }}"}}}}')
    .option('--max-price <LP>', 'the most each step\'s job may cost, in LP', '10')
    .option('-o, --output-dir <dir>', 'where result folders are written (default: <tmp>/lilypad/data/downloaded-files)')
    .option('--json', 'print one JSON object with every step instead of progress lines and a table')
    .action(async (file: string, flags: { maxPrice: string; outputDir?: string; json?: boolean }) => {
      const outcomes = await pipelineCommand({
        file,
        maxPrice: flags.maxPrice,
        outputDir: flags.outputDir,
        env: process.env,
        signal: stopSignal(),
        onEvent: (event) => {
          const line = flags.json ? undefined : eventLine(event);
          if (line) process.stdout.write(line + '\n');
        },
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ pipeline: path.resolve(file), steps: outcomes }) + '\n');
      } else {
        process.stdout.write('\n' + table(outcomes.map((o) => ({ step: o.name, module: o.module, state: STATE_SHOWN[o.state], cid: o.cid }))));
      }
      const failure = pipelineFailure(outcomes);
      if (failure) throw failure;
    });

  pipeline
    .command('show')
    .description('show what this machine recorded of a pipeline file\'s steps (LILYPAD_JOBS_DB)')
    .argument('<file>', 'a pipeline file')
    .option('--json', 'print one JSON object')
    .action(async (file: string, flags: { json?: boolean }) => {
      const parsed = await readPipeline(file);
      const jobs = openJobStore(defaultJobsDbPath(process.env));
      let records: PipelineStepRecord[];
      try {
        records = jobs.pipelineSteps(parsed.file);
      } finally {
        jobs.close();
      }
      const byStep = new Map(records.map((record) => [record.step, record]));
      const steps = parsed.steps.map((step) => {
        const record = byStep.get(step.name);
        return { name: step.name, module: step.module, stage: record?.stage ?? 'not run', runs: record?.runs ?? 0, jobId: record?.jobId, cid: record?.cid, error: record?.error };
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ pipeline: parsed.file, steps }) + '\n');
        return;
      }
      process.stdout.write(table(steps.map((step) => ({ step: step.name, module: step.module, state: step.stage, cid: step.cid }))));
    });
}
