/**
 * User input that used to give a stack trace, exit 70 or a message about the wrong cause: each gives one
 * line that names the true cause, and exit code 1 (the CLI's code for user errors); a closed pipe gives 0.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { zeroAddress, zeroHash, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, deployContracts, escrowBalance, startAnvil, type AnvilInstance } from '../src/chain/index.js';
import type { DeployedContracts } from '../src/chain/deploy.js';
import { openJobStore } from '../src/job-creator/job-store.js';
import { runJob } from '../src/job-creator/run-job.js';
import { startEmbeddedNetwork } from '../src/network/embedded.js';
import { createSolverClient } from '../src/solver/client.js';
import { closeBlockstore, openBlockstore } from '../src/storage/index.js';
import { inputsHashOf, moduleIdOf } from '../src/protocol/ids.js';
import { jobOfferDetailsHashOf, type JobOffer } from '../src/protocol/offers.js';
import { cliPath, processesWithMarker, runCli } from './helpers.js';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

async function expectOneLineError(args: string[], env: Record<string, string>, message: RegExp): Promise<void> {
  const run = await runCli(args, env);
  expect(run.stdout).toBe('');
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^Error: /);
  expect(lines[0]).toMatch(message);
  expect(run.code).toBe(1);
  expect(processesWithMarker(run.marker)).toEqual([]);
}

/** A fresh folder for the tests of one describe block, removed after them. */
function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir!;
}

const configured = (overrides: Record<string, string>) => ({
  WEB3_RPC_URL: 'http://127.0.0.1:1',
  WEB3_PRIVATE_KEY: ANVIL_DEV_PRIVATE_KEYS[1],
  SERVICE_SOLVER: 'http://127.0.0.1:1',
  SERVICE_MEDIATORS: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  LILYPAD_DEALS_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  ...overrides,
});

describe('numbers out of range', () => {
  it('a 78-digit --max-price', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--max-price', '1'.repeat(78)], {}, /--max-price 1{16}… \(78 characters\): is more LP than the chain can count/);
  });
  it('a --max-price with more than 18 decimals', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--max-price', '1.0000000000000000001'], {}, /--max-price 1\.0000000000000000001: .*at most 18 decimal places/);
  });
  it('a --submit-timeout and a --judge-window longer than the deal contract stores', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--submit-timeout', '9'.repeat(40)], {}, /--submit-timeout 9{16}… \(40 characters\): must be at most 16777215 seconds/);
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--judge-window', '16777216'], {}, /--judge-window 16777216: must be at most 16777215 seconds/);
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--judge-window', '0'], {}, /--judge-window 0: must be at least 1 second/);
  });
});

describe('messages that name the true cause', () => {
  it('a git repository that does not exist', async () => {
    await expectOneLineError(['run', 'file:///nonexistent:tag'], {}, /cannot fetch file:\/\/\/nonexistent: the repository does not exist or cannot be read there/);
  });

  it('a zero private key', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=moo'], configured({ WEB3_PRIVATE_KEY: `0x${'0'.repeat(64)}` }), /^Error: WEB3_PRIVATE_KEY is not a valid secp256k1 private key/);
  });

  it('an input longer than the network takes, and an input name', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', `Message=${'a'.repeat(100_000)}`], {}, /-i Message=…: the value is 100000 characters; the network takes at most 65536/);
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', `${'K'.repeat(300)}=moo`], {}, /the input name is 300 characters; the network takes names of at most 256/);
  });

  it('an input given twice, and an input name a template cannot read', async () => {
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'Message=a', '-i', 'Message=b'], {}, /^Error: -i Message=…: Message is given twice; give each input once$/);
    await expectOneLineError(['run', 'cowsay:v0.0.1', '-i', 'my-message=moo'], {}, /^Error: -i my-message=…: an input name is letters, digits and _/);
  });

  it('a WebAssembly module that asks for a GPU, refused as it renders: WebAssembly has none', async () => {
    const moduleDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-cowsay-gpu-'));
    try {
      await cp(path.join(repoRoot, 'modules', 'cowsay'), moduleDir, { recursive: true });
      const template = path.join(moduleDir, 'lilypad_module.json.tmpl');
      await writeFile(template, (await readFile(template, 'utf8')).replace('"gpu": 0', '"gpu": 1'));
      await expectOneLineError(['run', moduleDir, '-i', 'Message=moo'], {}, /rendered an invalid job spec at machine\.gpu: the Wasm engine has no GPUs; a module that needs one runs on Docker$/);
    } finally {
      await rm(moduleDir, { recursive: true, force: true });
    }
  });

  describe('a deals address that is not the deal contract', () => {
    let anvil: AnvilInstance;
    let contracts: DeployedContracts;
    beforeAll(async () => {
      anvil = await startAnvil();
      const deployer = await connectChain({ rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: anvil.chainId });
      contracts = await deployContracts(deployer.walletClient, deployer.publicClient);
    });
    afterAll(async () => {
      await anvil?.stop();
    });

    it('is refused before anything is posted, for an empty address and for another contract', async () => {
      const empty = '0x000000000000000000000000000000000000dEaD';
      await expectOneLineError(
        ['run', 'cowsay:v0.0.1', '-i', 'Message=moo'],
        configured({ WEB3_RPC_URL: anvil.rpcUrl, LILYPAD_DEALS_ADDRESS: empty }),
        new RegExp(`LILYPAD_DEALS_ADDRESS ${empty} is not a Lilypad deal contract on chain ${anvil.chainId} \\(no contract there\\)`),
      );
      await expectOneLineError(
        ['run', 'cowsay:v0.0.1', '-i', 'Message=moo'],
        configured({ WEB3_RPC_URL: anvil.rpcUrl, LILYPAD_DEALS_ADDRESS: contracts.token }),
        new RegExp(`LILYPAD_DEALS_ADDRESS ${contracts.token} is not a Lilypad deal contract on chain ${anvil.chainId}`),
      );
    });

    it('an unfunded key is refused at once, not after the offer has waited out its life', async () => {
      const key = generatePrivateKey();
      const account = privateKeyToAccount(key).address;
      await expectOneLineError(
        ['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--max-price', '2'],
        configured({ WEB3_RPC_URL: anvil.rpcUrl, LILYPAD_DEALS_ADDRESS: contracts.deals, WEB3_PRIVATE_KEY: key }),
        new RegExp(`^Error: the escrow of ${account} holds 0 LP, less than --max-price 2 LP: deposit LP`),
      );
    });
  });
});

// The embedded network has one provider and nothing that can change: an offer it cannot take would only
// wait out its ten-minute life to say so.
describe('terms that the embedded network’s one provider cannot accept fail at once, with the solver’s reason', () => {
  const tempDir = useTempDir('lilypad-unmatched-');

  it('a --judge-window longer than the provider allows', async () => {
    await expectOneLineError(
      ['run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--judge-window', '7200', '--json'],
      {},
      /^Error: no resource provider can take the job: no offer fits: 1 offer does not accept the job’s timeouts$/,
    );
  });

  it('leaves the job creator’s escrow as it was', async () => {
    const network = await startEmbeddedNetwork();
    const blockstore = await openBlockstore(path.join(tempDir(), 'blocks'));
    try {
      const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const account = chain.walletClient.account.address;
      const before = await escrowBalance(chain.publicClient, { deals: network.contracts.deals, account });
      const job = runJob(
        { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' }, maxPrice: 10n ** 19n, mediators: network.mediators, resultsDir: path.join(tempDir(), 'results'), judgeWindow: 7200n, failWhenUnmatched: true },
        { chain, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore },
      );
      await expect(job).rejects.toMatchObject({ code: 'job-unmatched' });
      expect(await escrowBalance(chain.publicClient, { deals: network.contracts.deals, account })).toEqual(before);
    } finally {
      await closeBlockstore(blockstore);
      await network.stop();
    }
  }, 60_000);
});

describe('lilypad jobs | head -2', () => {
  const tempDir = useTempDir('lilypad-epipe-');

  it('exits quietly with 0 when the reader closes the pipe early', async () => {
    // More lines than a pipe holds (64 KiB), so the CLI is still writing when head has gone.
    const jobsDb = path.join(tempDir(), 'jobs.db');
    const jobs = openJobStore(jobsDb);
    const module = { repository: 'builtin/cowsay', commit: 'bafy', path: '' };
    for (let i = 0; i < 3000; i++) {
      const inputs = { Message: `moo ${i}` };
      const offer: JobOffer = {
        terms: {
          jobCreator: zeroAddress, moduleId: moduleIdOf(module), inputsHash: inputsHashOf(inputs), detailsHash: jobOfferDetailsHashOf({ moduleName: 'cowsay:v0.0.1', machine: { cpu: 1, gpu: 0, ram: 1 }, engine: 'wasm' }), maxPrice: 1n, minCollateral: 0n, mediators: [zeroAddress],
          mediatorSeedHash: zeroHash, mediationFee: 0n, submitTimeout: 60n, judgeWindow: 60n, mediationTimeout: 60n, nonce: BigInt(i), expiry: 1n,
        },
        moduleName: 'cowsay:v0.0.1', module, inputs, machine: { cpu: 1, gpu: 0, ram: 1 }, engine: 'wasm', signature: '0x',
      };
      jobs.add({ id: `0x${i.toString(16).padStart(64, '0')}` as Hex, module: 'cowsay:v0.0.1', inputs, offer, network: { chainId: 1, dealsAddress: zeroAddress, solverUrl: 'http://127.0.0.1:1' } });
    }
    jobs.close();

    const shell = spawn('bash', ['-c', `"${process.execPath}" "${cliPath}" jobs | head -2; echo "cli exit \${PIPESTATUS[0]}" >&2`], {
      env: { ...process.env, LILYPAD_JOBS_DB: jobsDb },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    shell.stdout.on('data', (chunk) => (stdout += chunk));
    shell.stderr.on('data', (chunk) => (stderr += chunk));
    await new Promise((resolve) => shell.on('close', resolve));
    expect(stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(stdout).toMatch(/^ID +MODULE/);
    expect(stderr).toBe('cli exit 0\n');
  });
});
