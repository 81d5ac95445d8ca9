/**
 * The first job, end to end: the real CLI as a child process, on an embedded network (anvil, the
 * contracts, a solver, a resource provider, a mediator), as a new user runs it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { HOG_ERROR, hogModule, processesWithMarker, runCli, spinModuleWithTimeout } from './helpers.js';

const cow = COWSAY_MOO;

let outputDir: string;
beforeAll(async () => {
  outputDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-e2e-'));
});
afterAll(async () => {
  await rm(outputDir, { recursive: true, force: true });
});

describe('a job that fails after its deal was agreed', () => {
  it('runs past its Timeout: lilypad run says which limit, exits 1, and the deal is paid, not left open', async () => {
    const moduleDir = await spinModuleWithTimeout(path.join(outputDir, 'spin-2s'), 2);
    const run = await runCli(['run', moduleDir, '-i', 'Rounds=100000000', '--json', '--output-dir', outputDir]);
    expect(run.code, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.error).toMatch(/Timeout|wall.clock/i);
    expect(result.exitCode).toBe(124);
    // The result folder says so too, and holds no partial output that a re-run could not reproduce.
    expect(await readFile(path.join(result.dir, 'error'), 'utf8')).toContain(result.error);
    expect(await readFile(path.join(result.dir, 'stdout'), 'utf8')).toBe('');
    // Accepted like any result: the provider is paid for the work it did, nothing waits for a timeout.
    expect(result.state).toBe('results-submitted');
  });

  it('allocates without bound: stops at the module\'s ram, lilypad run names the memory limit, exits 1, the deal is paid', async () => {
    const moduleDir = await hogModule(path.join(outputDir, 'hog'));
    const run = await runCli(['run', moduleDir, '--json', '--output-dir', outputDir]);
    expect(run.code, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.error).toBe(HOG_ERROR);
    expect(result.exitCode).toBe(12);
    // What the job printed before it gave up is kept: it is the same on every machine.
    expect(result.stdout).toMatch(/^hog stopped after \d+ MiB\n$/);
    expect(result.state).toBe('results-submitted');
  });
});

describe('lilypad run cowsay:v0.0.1 -i Message=moo', () => {
  it('prints the progress lines, the result folder, the CID and the cow, and leaves no process behind', async () => {
    const run = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--output-dir', outputDir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    const expectedOrder = [
      '🌟 Lilypad submitting job',
      '🤝 Job submitted. Negotiating deal...',
      '💌 Deal agreed. Running job...',
      '🏭 Results submitted. Awaiting verification...',
      '✅ Results accepted. Downloading result...',
      '🍂 Lilypad job completed, try 👇',
    ];
    expect(lines.slice(0, expectedOrder.length)).toEqual(expectedOrder);
    const cid = /CID: (bafy\w+)/.exec(run.stdout)?.[1];
    expect(cid).toBeDefined();
    const dir = path.join(outputDir, cid!);
    expect(run.stdout).toContain(`open ${dir}`);
    expect(run.stdout).toContain(`cat ${dir}/stdout`);
    expect(run.stdout.endsWith(cow)).toBe(true);
    expect(await readFile(path.join(dir, 'stdout'), 'utf8')).toBe(cow);
    expect(await readFile(path.join(dir, 'exitCode'), 'utf8')).toBe('0');
    expect(processesWithMarker(run.marker)).toEqual([]);
  });

  it('gives the same result CID every time (--json)', async () => {
    const first = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--json', '--output-dir', outputDir]);
    const second = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--json', '--output-dir', outputDir]);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    expect(a.cid).toMatch(/^bafy/);
    expect(a.cid).toBe(b.cid);
    expect(a.dealId).not.toBe(b.dealId);
    expect(a.stdout).toBe(cow);
    expect(a.exitCode).toBe(0);
    expect(first.stdout.trim().split('\n')).toHaveLength(1);
  });
});

describe('bad input: one line on stderr, a non-zero exit code, nothing left running', () => {
  const cases: Array<{ name: string; args: string[]; env?: Record<string, string>; message: RegExp }> = [
    { name: 'a module that does not exist', args: ['run', 'nosuchmodule:v1', '-i', 'Message=moo'], message: /module nosuchmodule:v1 not found/ },
    { name: 'a tag that does not exist', args: ['run', 'cowsay:v9', '-i', 'Message=moo'], message: /has no tag v9; tags are v0\.0\.1/ },
    { name: 'a missing input the module requires', args: ['run', 'cowsay:v0.0.1'], message: /^Error: Message: missing; it is required \(What the cow says\)$/ },
    { name: '-i without =', args: ['run', 'cowsay:v0.0.1', '-i', 'Message'], message: /-i Message: inputs are KEY=VALUE/ },
    {
      name: 'a network preset that does not exist',
      args: ['--network', 'nosuchnet', 'run', 'cowsay:v0.0.1', '-i', 'Message=moo'],
      message: /no network preset nosuchnet in .*networks; there are none yet/,
    },
    {
      name: 'a network with settings missing',
      args: ['run', 'cowsay:v0.0.1', '-i', 'Message=moo'],
      env: { WEB3_RPC_URL: 'http://127.0.0.1:1' },
      message: /WEB3_RPC_URL is set, so lilypad uses that network, but WEB3_PRIVATE_KEY, SERVICE_SOLVER, SERVICE_MEDIATORS, LILYPAD_DEALS_ADDRESS are not set/,
    },
    {
      name: 'an RPC URL that does not answer',
      args: ['run', 'cowsay:v0.0.1', '-i', 'Message=moo'],
      env: {
        WEB3_RPC_URL: 'http://127.0.0.1:1',
        WEB3_PRIVATE_KEY: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
        SERVICE_SOLVER: 'http://127.0.0.1:1',
        SERVICE_MEDIATORS: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        LILYPAD_DEALS_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      },
      // A chain that is down may be up in a moment: the line says that trying again may work.
      message: /cannot reach the chain at http:\/\/127\.0\.0\.1:1.* \(this may be temporary: trying again may work\)$/,
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const run = await runCli(testCase.args, testCase.env);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^Error: /);
      expect(lines[0]).toMatch(testCase.message);
      expect(processesWithMarker(run.marker)).toEqual([]);
    });
  }
});
