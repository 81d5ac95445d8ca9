// @ts-nocheck -- a plain script run with node against the built dist/
/**
 * A job creator with a bad policy, as a process, using the job-creator SDK (dist/job-creator):
 * - lazy: never checks: it stops following the job once results are on chain, never downloads or judges
 *   them and never accepts; the judge window passing pays the provider, whatever it submitted.
 * - challenge-all: challenges every result, right or wrong, and pays the mediation fee each time.
 * Usage: node test/doubles/job-creator.mjs --policy lazy MODULE KEY=VALUE...; configured by WEB3_RPC_URL,
 * WEB3_PRIVATE_KEY, SERVICE_SOLVER, SERVICE_MEDIATORS, LILYPAD_DEALS_ADDRESS. Prints one JSON line.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const { connectChain } = await import(`${dist}/chain/index.js`);
const { runJob } = await import(`${dist}/job-creator/run-job.js`);
const { createModuleResolver } = await import(`${dist}/module/resolve.js`);
const { chainReadDeal } = await import(`${dist}/network/read-deal.js`);
const { createSolverClient } = await import(`${dist}/solver/client.js`);
const { openBlockstore, closeBlockstore } = await import(`${dist}/storage/index.js`);

const { values, positionals } = parseArgs({ options: { policy: { type: 'string' } }, allowPositionals: true });
const policy = values.policy ?? 'lazy';
if (!['lazy', 'challenge-all'].includes(policy)) throw new Error(`unknown policy ${policy}`);
const [module, ...pairs] = positionals;
const inputs = Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const env = process.env;

const work = await mkdtemp(path.join(os.tmpdir(), 'lilypad-job-creator-double-'));
const chain = await connectChain({ rpcUrl: env.WEB3_RPC_URL, privateKey: env.WEB3_PRIVATE_KEY });
const blockstore = await openBlockstore(path.join(work, 'blocks'));
const controller = new AbortController();
let submitted;
try {
  const result = await runJob(
    {
      module,
      inputs,
      maxPrice: 10n ** 19n,
      mediators: env.SERVICE_MEDIATORS.split(','),
      resultsDir: path.join(work, 'results'),
      signal: controller.signal,
      judge: () => false,
      onProgress: (event) => {
        if (event.type === 'results:submitted') {
          submitted = { dealId: event.dealId, cid: event.cid };
          if (policy === 'lazy') controller.abort();
        }
      },
    },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: env.LILYPAD_DEALS_ADDRESS },
      solver: createSolverClient(env.SERVICE_SOLVER),
      modules: createModuleResolver(),
      readDeal: chainReadDeal(chain.publicClient, env.LILYPAD_DEALS_ADDRESS),
      blockstore,
    },
  );
  process.stdout.write(JSON.stringify({ policy, dealId: result.dealId, cid: result.cid, state: result.state }) + '\n');
} catch (error) {
  if (!(policy === 'lazy' && submitted)) throw error;
  process.stdout.write(JSON.stringify({ policy, ...submitted, state: 'results-submitted' }) + '\n');
} finally {
  await closeBlockstore(blockstore);
}
process.exit(0);
