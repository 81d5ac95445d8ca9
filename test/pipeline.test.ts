/**
 * `lilypad pipeline run FILE` through the real CLI on the embedded network: one network for all steps, each
 * later step's provider fetching earlier results from the job creator's lasting blockstore; a fan-out and a
 * join; a pipeline killed after its first step resumes without running that step again; a failed step stops
 * the steps that need it; bad files are refused with one line before anything starts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedNetwork } from '../src/network/embedded.js';
import { catInputModule, joinInputModule, probeModule, runCli, startCli } from './helpers.js';

let dir: string;
let env: Record<string, string>;
let writeModule: string;
let catModule: string;
let joinModule: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-pipeline-e2e-'));
  env = { LILYPAD_BLOCKS_DIR: path.join(dir, 'blocks'), LILYPAD_JOBS_DB: path.join(dir, 'jobs.db') };
  // Writes {{ .Text }} to /outputs/x.txt: a result that is a folder.
  writeModule = await probeModule(path.join(dir, 'write-module'), '["write", "/outputs/x.txt", {{ .Text }}]', 30);
  // Prints {{ .File }}, with {{ .DataCID }} at /inputs/data.
  catModule = await catInputModule(path.join(dir, 'cat-module'));
  // The same with a second input, {{ .OtherCID }} at /inputs/other.
  joinModule = await joinInputModule(path.join(dir, 'join-module'));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pipelineFile(name: string, steps: unknown): Promise<string> {
  const folder = path.join(dir, name);
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, 'pipeline.json');
  await writeFile(file, JSON.stringify({ steps }, null, 2));
  return file;
}

interface Outcome {
  name: string;
  state: string;
  cid?: string;
  dir?: string;
  resourceProvider?: string;
  error?: string;
}

describe('lilypad pipeline run on the embedded network', () => {
  it('a fan-out and a join: a makes a folder, b and c each read it, d reads both; one network for all', async () => {
    const file = await pipelineFile('fan-out', {
      a: { module: writeModule, inputs: { Text: 'made by a' } },
      b: { module: catModule, inputs: { DataCID: '${{ steps.a.cid }}/outputs', File: '/inputs/data/x.txt' } },
      c: { module: catModule, inputs: { DataCID: '${{ steps.a.cid }}', File: '/inputs/data/outputs/x.txt' } },
      d: { module: joinModule, inputs: { DataCID: '${{ steps.b.cid }}', OtherCID: '${{ steps.c.cid }}/stdout', File: '/inputs/other' } },
    });
    const out = path.join(dir, 'fan-out-results');
    const run = await runCli(['pipeline', 'run', file, '--json', '-o', out], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { pipeline, steps } = JSON.parse(run.stdout) as { pipeline: string; steps: Outcome[] };
    expect(pipeline).toBe(file);
    expect(steps.map((step) => [step.name, step.state])).toEqual([['a', 'done'], ['b', 'done'], ['c', 'done'], ['d', 'done']]);
    for (const step of steps) expect(step.dir).toBe(path.join(out, step.name, step.cid!));
    const [a, b, c, d] = steps.map((step) => step.dir!);
    expect(await readFile(path.join(a!, 'outputs', 'x.txt'), 'utf8')).toBe('made by a');
    expect(await readFile(path.join(b!, 'stdout'), 'utf8')).toBe('made by a');
    expect(await readFile(path.join(c!, 'stdout'), 'utf8')).toBe('made by a');
    // d printed c's result, read by a path inside c's CID, and ran with b's result mounted beside it.
    expect(await readFile(path.join(d!, 'stdout'), 'utf8')).toBe('made by a');
    // Every embedded network has a provider of its own (a fresh key): one provider for all steps is one network.
    expect(new Set(steps.map((step) => step.resourceProvider)).size).toBe(1);
  }, 120_000);

  it('killed after its first step, it resumes: that step is done earlier, not run again', async () => {
    await mkdir(path.join(dir, 'resume', 'data'), { recursive: true });
    await writeFile(path.join(dir, 'resume', 'data', 'a.txt'), 'local data\n');
    // @./data is relative to the pipeline file's folder, wherever the command runs from.
    const file = await pipelineFile('resume', {
      one: { module: catModule, inputs: { DataCID: '@./data', File: '/inputs/data/a.txt' } },
      two: { module: catModule, inputs: { DataCID: '${{ steps.one.cid }}', File: '/inputs/data/stdout' } },
    });
    const first = startCli(['pipeline', 'run', file], env);
    await first.printed(/^\[one\] done: /m);
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    const oneCid = /^\[one\] done: (\S+)$/m.exec(killed.stdout)![1];

    const again = await runCli(['pipeline', 'run', file], env);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`[one] done earlier: ${oneCid}\n`);
    expect(again.stdout).not.toContain('[one] 🌟');
    expect(again.stdout).toMatch(/^STEP +MODULE +STATE +CID\none +\S+ +done earlier +bafy\S+\ntwo +\S+ +done +bafy\S+\n$/m);

    // Once all is done, a third run reuses every step.
    const third = await runCli(['pipeline', 'run', file, '--json'], env);
    expect((JSON.parse(third.stdout) as { steps: Outcome[] }).steps.map((step) => step.state)).toEqual(['done-earlier', 'done-earlier']);

    const shown = await runCli(['pipeline', 'show', file, '--json'], env);
    expect(shown.code).toBe(0);
    const { steps } = JSON.parse(shown.stdout) as { steps: Array<{ name: string; stage: string; runs: number; cid: string }> };
    expect(steps.map((step) => [step.name, step.stage])).toEqual([['one', 'done'], ['two', 'done']]);
    expect(steps[0]).toMatchObject({ runs: 1, cid: oneCid });
  }, 120_000);

  it('a failed step stops the step that needs it, and the command says which and why', async () => {
    const file = await pipelineFile('failing', {
      missing: { module: catModule, inputs: { DataCID: '@./', File: '/inputs/data/not-there.txt' } },
      after: { module: catModule, inputs: { DataCID: '${{ steps.missing.cid }}', File: '/inputs/data/stdout' } },
    });
    const run = await runCli(['pipeline', 'run', file, '--json'], env);
    expect(run.code).toBe(1);
    const { steps } = JSON.parse(run.stdout) as { steps: Outcome[] };
    expect(steps.map((step) => [step.name, step.state])).toEqual([['missing', 'failed'], ['after', 'not-run']]);
    expect(run.stderr).toBe(`Error: step missing failed: the job exited with code 19; see ${steps[0]!.dir}/stderr; not run: after\n`);
  }, 120_000);
});

describe('lilypad pipeline run on a configured network', () => {
  it('a step posted and not seen to finish is followed when run again, not posted again', async () => {
    // A network in this process that the CLI reaches as a configured one (WEB3_RPC_URL and the rest).
    const network = await startEmbeddedNetwork({ dataDir: path.join(dir, 'configured-network') });
    try {
      const configured = {
        LILYPAD_JOBS_DB: path.join(dir, 'configured-jobs.db'),
        WEB3_RPC_URL: network.rpcUrl,
        WEB3_PRIVATE_KEY: network.jobCreatorPrivateKey,
        SERVICE_SOLVER: network.solverUrl,
        SERVICE_MEDIATORS: network.mediators.join(','),
        LILYPAD_DEALS_ADDRESS: network.contracts.deals,
      };
      const file = await pipelineFile('configured', { moo: { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } } });
      const out = path.join(dir, 'configured-results');
      const first = startCli(['pipeline', 'run', file, '-o', out], configured);
      await first.printed(/^\[moo\] 🤝 Job submitted/m);
      first.child.kill('SIGKILL');
      await first.exited;

      const again = await runCli(['pipeline', 'run', file, '-o', out, '--json'], configured);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      const { steps } = JSON.parse(again.stdout) as { steps: Array<Outcome & { jobId: string }> };
      expect(steps).toMatchObject([{ name: 'moo', state: 'done' }]);
      // The job store holds the one job that was posted, now done, with the step's CID.
      const jobs = await runCli(['jobs', '--json'], configured);
      const recorded = jobs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; stage: string; cid: string });
      expect(recorded).toEqual([expect.objectContaining({ id: steps[0]!.jobId, stage: 'done', cid: steps[0]!.cid })]);
    } finally {
      await network.stop();
    }
  }, 120_000);
});

describe('bad pipelines are refused with one line before anything starts', () => {
  const refused = async (name: string, steps: unknown) => {
    const run = await runCli(['pipeline', 'run', await pipelineFile(name, steps)], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    return run.stderr;
  };

  it('an unknown step, a cycle, a module that does not resolve, a malformed file', async () => {
    expect(await refused('unknown', { a: { module: catModule, inputs: { DataCID: '${{ steps.b.cid }}', File: '/x' } } })).toBe(
      `Error: pipeline ${path.join(dir, 'unknown', 'pipeline.json')}: step a names step b, which the pipeline does not have (steps: a)\n`,
    );
    expect(
      await refused('cycle', { a: { module: catModule, inputs: { DataCID: '${{ steps.b.cid }}', File: '/x' } }, b: { module: catModule, inputs: { DataCID: '${{ steps.a.cid }}', File: '/x' } } }),
    ).toBe(`Error: pipeline ${path.join(dir, 'cycle', 'pipeline.json')}: steps a → b → a form a cycle; a step can only use results of steps that do not need it\n`);
    expect(await refused('no-module', { a: { module: writeModule, inputs: { Text: 'x' } }, b: { module: 'nope:v1', inputs: {} } })).toMatch(/^Error: step b: .*nope.*\n$/);
    const malformed = path.join(dir, 'malformed.json');
    await writeFile(malformed, '{"steps": {"a": {"module": "x:v1"}, "a": {"module": "y:v1"}}}');
    const duplicate = await runCli(['pipeline', 'run', malformed], env);
    expect(duplicate.stderr).toBe(`Error: pipeline ${malformed}: step a is defined twice; give each step a name of its own\n`);
    const missing = await runCli(['pipeline', 'run', path.join(dir, 'none.json')], env);
    expect(missing.stderr).toBe(`Error: pipeline ${path.join(dir, 'none.json')}: no such file\n`);
  }, 60_000);
});
