/**
 * Inputs by CID across the roles, on the embedded network: the job creator's own blocks are served on
 * loopback, and the provider fetches the job's input from there, checks every block and mounts it
 * read-only at the module's Path; a CID nobody has ends the job at once with a result that says why.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectChain } from '../src/chain/index.js';
import { runCheckedJob } from '../src/job-creator/audit.js';
import { runJob } from '../src/job-creator/run-job.js';
import type { CheckProgressEvent } from '../src/job-creator/verify.js';
import { gatewayInputSource } from '../src/module/input-source.js';
import type { JobCreatorComponents } from '../src/job-creator/types.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { createSolverClient } from '../src/solver/client.js';
import { addDirectory, closeBlockstore, openBlockstore, type FsBlockstore } from '../src/storage/index.js';
import { catInputModule } from './helpers.js';

const NOBODY_HAS = 'bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu';

let dir: string;
let moduleDir: string;
let folderCid: string;
let blocks: FsBlockstore;
let network: EmbeddedNetwork;
let components: JobCreatorComponents;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-inputs-e2e-'));
  moduleDir = await catInputModule(path.join(dir, 'cat-module'));
  await mkdir(path.join(dir, 'data', 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'data', 'sub', 'a.txt'), 'from the job creator\'s machine\n');
  blocks = await openBlockstore(path.join(dir, 'blocks'));
  folderCid = (await addDirectory(path.join(dir, 'data'), blocks)).toString();
  network = await startEmbeddedNetwork({ inputsBlockstore: blocks, dataDir: path.join(dir, 'network') });
  const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
  components = { chain, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: blocks };
}, 120_000);

afterAll(async () => {
  await network?.stop();
  if (blocks) await closeBlockstore(blocks);
  await rm(dir, { recursive: true, force: true });
});

const run = (inputs: Record<string, string>, name: string) =>
  runJob(
    { module: moduleDir, inputs, maxPrice: 10n ** 19n, mediators: network.mediators, resultsDir: path.join(dir, 'results', name), failWhenUnmatched: true },
    components,
  );

describe('inputs by CID on the embedded network', () => {
  it('the provider fetches the job creator\'s folder by CID and the job reads it at its Path', async () => {
    const result = await run({ DataCID: folderCid, File: '/inputs/data/sub/a.txt' }, 'ok');
    expect(result.error).toBeUndefined();
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('from the job creator\'s machine\n');
  }, 120_000);

  it('--verify: the job creator re-runs the job with the same inputs and gets the provider\'s CID', async () => {
    const checks: CheckProgressEvent[] = [];
    const result = await runCheckedJob(
      { verify: true, onCheck: (event) => checks.push(event) },
      { module: moduleDir, inputs: { DataCID: folderCid, File: '/inputs/data/sub/a.txt' }, maxPrice: 10n ** 19n, mediators: network.mediators, resultsDir: path.join(dir, 'results', 'verified'), failWhenUnmatched: true },
      // The job creator holds the blocks itself; the network's gateway is the way to any it lacks.
      { ...components, inputs: { source: gatewayInputSource(network.inputGateways, blocks), blockstore: blocks } },
    );
    expect(result.stdout).toBe('from the job creator\'s machine\n');
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
      runJob({ module: escaping, inputs: { DataCID: folderCid, File: '/x' }, maxPrice: 10n ** 19n, mediators: network.mediators, resultsDir: path.join(dir, 'results', 'escaping') }, components),
    ).rejects.toThrow(/input DataCID has Path "\/inputs\/\.\.\/etc"; a Path must be \/inputs or a path under it/);
  }, 60_000);
});
