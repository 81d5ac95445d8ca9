/**
 * The job records follow the chain: `lilypad jobs` shows where the chain has moved a deal (a submit timeout
 * nobody on this machine saw), and `lilypad job ID` reads the job on the network it was posted to, not the
 * one the environment names now. The deal is made on a real anvil with the deal contract, without a solver
 * or a provider process: the records are what is tested.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agreeDeal } from '../src/chain/actions/agree-deal.js';
import { timeoutSubmitResults } from '../src/chain/actions/timeout-submit-results.js';
import { ANVIL_DEV_PRIVATE_KEYS } from '../src/chain/index.js';
import { LP, startDealsKit, type DealsKit } from '../src/chain/testing.js';
import { openJobStore, type JobNetwork } from '../src/job-creator/job-store.js';
import { addBytes, closeBlockstore, openBlockstore } from '../src/storage/index.js';
import { signedJobOffer, signedResourceOffer, testDomain } from './fixtures/offers.js';
import { inputsHashOf, moduleIdOf } from '../src/protocol/ids.js';
import { jobOfferDetailsHashOf, jobOfferId, resourceOfferId, type JobOffer } from '../src/protocol/offers.js';
import { runCli } from './helpers.js';

let kit: DealsKit;
let dir: string;
let jobsDb: string;
let jobCreatorKey: Hex;
let network: JobNetwork;
let timedOut: Hex;
let pending: Hex;
const unreachableSolver = 'http://127.0.0.1:1';

const details = {
  moduleName: 'cowsay:v0.0.1',
  module: { repository: 'builtin/cowsay', commit: 'bafy', path: '' },
  inputs: { Message: 'moo' },
  machine: { cpu: 1, gpu: 0, ram: 1 },
  engine: 'wasm' as const,
};
/** Signed terms that the recorded details hash to, as a job store reads back only such offers. */
const termsFor = (jobCreator: Hex) =>
  kit.jobOffer(jobCreator, { moduleId: moduleIdOf(details.module), inputsHash: inputsHashOf(details.inputs), detailsHash: jobOfferDetailsHashOf(details) });

/** Records a job as `lilypad run --detach` would, with `stage` as this machine last saw it. */
function record(id: Hex, terms: JobOffer['terms'], stage: 'posted' | 'agreed', jobNetwork: JobNetwork = network): void {
  const jobs = openJobStore(jobsDb);
  const offer: JobOffer = { terms, ...details, signature: '0x' };
  jobs.add({ id, module: 'cowsay:v0.0.1', inputs: offer.inputs, offer, network: jobNetwork });
  if (stage !== 'posted') jobs.setStage(id, stage);
  jobs.close();
}

const env = (overrides: Record<string, string> = {}) => ({
  LILYPAD_JOBS_DB: jobsDb,
  WEB3_RPC_URL: kit.anvil.rpcUrl,
  WEB3_PRIVATE_KEY: jobCreatorKey,
  SERVICE_SOLVER: unreachableSolver,
  SERVICE_MEDIATORS: kit.jobOffer(kit.deals).mediators[0]!,
  LILYPAD_DEALS_ADDRESS: kit.deals,
  ...overrides,
});

const listed = async (overrides: Record<string, string> = {}) => {
  const run = await runCli(['jobs'], env(overrides));
  expect(run.code, run.stderr).toBe(0);
  const rows = run.stdout.trimEnd().split('\n').slice(1).map((line) => line.split(/\s+/));
  return { states: Object.fromEntries(rows.map((row) => [row[0]!, row[2]!])), stderr: run.stderr };
};

beforeAll(async () => {
  kit = await startDealsKit();
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-cli-jobs-'));
  jobsDb = path.join(dir, 'jobs.db');
  jobCreatorKey = generatePrivateKey();
  const jobCreator = kit.clientsFor(jobCreatorKey);
  const provider = kit.clientsFor(generatePrivateKey());
  await kit.fundParty(jobCreator.walletClient.account.address, { escrow: LP(30) });
  await kit.fundParty(provider.walletClient.account.address, { escrow: LP(50), eth: parseEther('1') });
  network = { chainId: kit.chainId, dealsAddress: kit.deals, solverUrl: unreachableSolver };

  // A deal agreed on chain, then timed out by someone else while this machine still says `agreed`.
  const jobOffer = termsFor(jobCreator.walletClient.account.address);
  const resourceOffer = kit.resourceOffer(provider.walletClient.account.address);
  const agreed = await agreeDeal(provider, {
    deals: kit.deals,
    jobOffer,
    jobCreatorSignature: await kit.signJobOffer(jobCreator, jobOffer),
    resourceOffer,
    matchAcceptance: await kit.signMatch(jobCreator, jobOffer, resourceOffer),
  });
  timedOut = agreed.dealId;
  expect(timedOut).toBe(jobOfferId({ chainId: kit.chainId, dealsAddress: kit.deals }, jobOffer));
  record(timedOut, jobOffer, 'agreed');
  await kit.increaseTime(601);
  await timeoutSubmitResults(kit.clientsFor(ANVIL_DEV_PRIVATE_KEYS[0]), { deals: kit.deals, dealId: timedOut });

  // A job posted and never matched: the chain knows no deal for it.
  const waiting = termsFor(jobCreator.walletClient.account.address);
  pending = jobOfferId({ chainId: kit.chainId, dealsAddress: kit.deals }, waiting);
  record(pending, waiting, 'posted');
}, 120_000);

afterAll(async () => {
  await kit?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('lilypad jobs', () => {
  it('shows a deal the chain has timed out as timed out, not as the recorded agreed, and writes it down', async () => {
    const unreachable = await listed({ WEB3_RPC_URL: 'http://127.0.0.1:1' });
    // The chain cannot be read: the recorded stages, and one line that says so.
    expect(unreachable.states).toEqual({ [timedOut.slice(0, 12)]: 'agreed', [pending.slice(0, 12)]: 'posted' });
    expect(unreachable.stderr).toBe('lilypad: 2 open jobs show their recorded stage: the chain at http://127.0.0.1:1 cannot be reached\n');

    const read = await listed();
    expect(read.states).toEqual({ [timedOut.slice(0, 12)]: 'submit-timed-out', [pending.slice(0, 12)]: 'posted' });
    expect(read.stderr).toBe('');

    // Written down: a final state is shown, and not read again, even with no chain to read.
    const json = await runCli(['jobs', '--json'], env({ WEB3_RPC_URL: 'http://127.0.0.1:1' }));
    const jobs = json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { id: string; stage: string; chain?: string });
    expect(jobs.find((job) => job.id === timedOut)).toMatchObject({ stage: 'agreed', chain: 'submit-timed-out' });
    expect(json.stderr).toBe('lilypad: 1 open job shows its recorded stage: the chain at http://127.0.0.1:1 cannot be reached\n');
  });
});

describe('lilypad job ID follows the network the job was posted to', () => {
  it('reads the recorded deal contract when the environment names another, and says so', async () => {
    const run = await runCli(['job', timedOut.slice(0, 12)], env({ LILYPAD_DEALS_ADDRESS: kit.token }));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^chain +submit-timed-out/m);
    expect(run.stderr).toBe(
      `lilypad: job ${timedOut.slice(0, 12)} was posted on chain ${kit.chainId} (deal contract ${kit.deals}, solver ${unreachableSolver}); following it there, not at LILYPAD_DEALS_ADDRESS ${kit.token}\n`,
    );
  });

  it('refuses, in one line, a chain other than the job\'s, and a chain that cannot be reached', async () => {
    const elsewhere = `0x${'ab'.repeat(32)}` as Hex;
    record(elsewhere, termsFor(kit.deals), 'posted', { ...network, chainId: 1 });
    const other = await runCli(['job', elsewhere], env());
    expect(other.code).toBe(1);
    expect(other.stderr).toBe(
      `Error: job ${elsewhere.slice(0, 12)} was posted on chain 1 (deal contract ${kit.deals}, solver ${unreachableSolver}), but WEB3_RPC_URL ${kit.anvil.rpcUrl} is chain ${kit.chainId}: set WEB3_RPC_URL to an RPC URL of chain 1\n`,
    );
    const down = await runCli(['get', timedOut.slice(0, 12)], env({ WEB3_RPC_URL: 'http://127.0.0.1:1' }));
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`^Error: cannot reach the chain at http://127\\.0\\.0\\.1:1: .*; job ${timedOut.slice(0, 12)} was posted on chain ${kit.chainId} .* \\(this may be temporary: trying again may work\\)\\n$`));
  });
});

describe('lilypad jobs shows where each result is', () => {
  it('the folder it was written to, the lasting blockstore, or its provider until the time its signed offer promised', async () => {
    const jobsHere = path.join(dir, 'locations.db');
    const blocks = path.join(dir, 'lasting-blocks');
    const folder = path.join(dir, 'results', 'written');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'stdout'), 'moo\n');
    const lasting = await openBlockstore(blocks);
    const keptHere = (await addBytes(new TextEncoder().encode('kept here'), lasting)).toString();
    await closeBlockstore(lasting);

    const jobs = openJobStore(jobsHere);
    /** A job recorded with its deal, whose provider's offer keeps results for `keptFor` seconds. */
    const recordJob = async (message: string, keptFor: number | undefined, result: { cid: string; dir?: string }) => {
      const offer = await signedJobOffer({ inputs: { Message: message } });
      const resourceOffer = await signedResourceOffer(keptFor === undefined ? {} : { details: { resultsKeptSeconds: keptFor } });
      const id = jobOfferId(testDomain, offer.terms);
      jobs.add({ id, module: 'cowsay:v0.0.1', inputs: offer.inputs, offer, network });
      jobs.setDeal(id, { dealId: id, resourceOfferId: resourceOfferId(testDomain, resourceOffer.terms), state: 'results-accepted', jobOffer: offer, resourceOffer });
      jobs.setStage(id, result.dir ? 'done' : 'results', result);
      return id;
    };
    const downloaded = await recordJob('downloaded', 86_400, { cid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', dir: folder });
    const inBlocks = await recordJob('in blocks', 86_400, { cid: keptHere });
    const atProvider = await recordJob('at provider', 86_400, { cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' });
    const unstated = await recordJob('unstated', undefined, { cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' });
    const createdAt = jobs.find(atProvider)!.createdAt;
    jobs.close();

    // No chain configured: the recorded stages, and where each result is.
    const run = await runCli(['jobs'], { LILYPAD_JOBS_DB: jobsHere, LILYPAD_BLOCKS_DIR: blocks });
    expect(run.code, run.stderr).toBe(0);
    const rowOf = (id: Hex) => run.stdout.split('\n').find((line) => line.startsWith(id.slice(0, 12)))!;
    expect(run.stdout.split('\n')[0]).toMatch(/CID +RESULT$/);
    expect(rowOf(downloaded)).toMatch(new RegExp(` ${folder}$`));
    expect(rowOf(inBlocks)).toMatch(new RegExp(` blocks in ${blocks}$`));
    const until = new Date(createdAt + 86_400_000).toISOString().replace('T', ' ').slice(0, 19);
    expect(rowOf(atProvider)).toMatch(new RegExp(` at the provider until at least ${until}$`));
    expect(rowOf(unstated)).toMatch(/ at the provider \(no keeping time stated\)$/);

    const json = await runCli(['jobs', '--json'], { LILYPAD_JOBS_DB: jobsHere, LILYPAD_BLOCKS_DIR: blocks });
    const results = Object.fromEntries(json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { id: string; result?: unknown }).map((job) => [job.id, job.result]));
    expect(results).toEqual({
      [downloaded]: { folder },
      [inBlocks]: { blocks },
      [atProvider]: { provider: 'http://127.0.0.1:9/', keptUntil: createdAt + 86_400_000 },
      [unstated]: { provider: 'http://127.0.0.1:9/' },
    });
  });
});
