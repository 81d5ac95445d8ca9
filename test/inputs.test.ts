/**
 * Inputs by CID across the roles, on the embedded network: the job creator's own blocks are served on
 * loopback, and the provider fetches the job's input from there, checks every block and mounts it
 * read-only at the module's Path; a CID nobody has ends the job at once with a result that says why.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheckedJob } from '../src/job-creator/audit.js';
import { runJob } from '../src/job-creator/run-job.js';
import type { CheckProgressEvent } from '../src/job-creator/verify.js';
import type { Hex } from 'viem';
import { ipfsSource } from '../src/storage/block-source.js';
import { catInputModule, INPUT_FILE_CONTENT, startInputsNetwork, storedDeal, type InputsNetwork } from './helpers.js';

const NOBODY_HAS = 'bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu';

let dir: string;
let net: InputsNetwork;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-inputs-e2e-'));
  net = await startInputsNetwork(dir);
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const run = (inputs: Record<string, string>, name: string) =>
  runJob(
    { module: net.moduleDir, inputs, maxPrice: 10n ** 19n, mediators: net.network.mediators, resultsDir: path.join(dir, 'results', name), failWhenUnmatched: true },
    net.components,
  );

describe('inputs by CID on the embedded network', () => {
  it('the provider fetches the job creator\'s folder by CID and the job reads it at its Path', async () => {
    const result = await run({ DataCID: net.folderCid, File: '/inputs/data/sub/a.txt' }, 'ok');
    expect(result.error).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(INPUT_FILE_CONTENT);
    // Recorded before the fetch: the provider's sweeps keep the input while the deal is open.
    expect(storedDeal(path.join(net.network.dataDir, 'resource-provider'), result.dealId as Hex)?.inputCids).toEqual([net.folderCid]);
  }, 120_000);

  it('--verify: the job creator re-runs the job with the same inputs and gets the provider\'s CID', async () => {
    const checks: CheckProgressEvent[] = [];
    const result = await runCheckedJob(
      { verify: true, onCheck: (event) => checks.push(event) },
      { module: net.moduleDir, inputs: { DataCID: net.folderCid, File: '/inputs/data/sub/a.txt' }, maxPrice: 10n ** 19n, mediators: net.network.mediators, resultsDir: path.join(dir, 'results', 'verified'), failWhenUnmatched: true },
      // The job creator holds the blocks itself; the IPFS peers the deal names are the way to any it lacks.
      { ...net.components, inputs: { source: ipfsSource(net.ipfs), blockstore: net.blocks } },
    );
    expect(result.stdout).toBe(INPUT_FILE_CONTENT);
    expect(checks).toEqual([expect.objectContaining({ type: 'verify:rerun', matches: true, submittedCid: result.cid })]);
  }, 120_000);

  it('a CID that nobody has: the job ends at once, its result naming the input and the CID', async () => {
    const started = Date.now();
    const result = await run({ DataCID: NOBODY_HAS, File: '/inputs/data/a.txt' }, 'missing');
    expect(result.exitCode).toBe(1);
    expect(result.error).toBe(`input-unavailable: input DataCID (${NOBODY_HAS}) could not be fetched: no source served it`);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  it('a Path that leaves /inputs is refused before anything is signed', async () => {
    const escaping = await catInputModule(path.join(dir, 'escaping-module'));
    const template = path.join(escaping, 'lilypad_module.json.tmpl');
    await writeFile(template, (await readFile(template, 'utf8')).replace('"Path": "/inputs/data"', '"Path": "/inputs/../etc"'));
    await expect(
      runJob({ module: escaping, inputs: { DataCID: net.folderCid, File: '/x' }, maxPrice: 10n ** 19n, mediators: net.network.mediators, resultsDir: path.join(dir, 'results', 'escaping') }, net.components),
    ).rejects.toThrow(/input DataCID has Path "\/inputs\/\.\.\/etc"; a Path must be \/inputs or a path under it/);
  }, 60_000);
});
