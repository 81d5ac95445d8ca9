// @ts-nocheck -- a plain script run with node against the built dist/
/**
 * A cheating resource provider, as a process: the honest provider code (dist/resource-provider) with an
 * executor that lies. Policies (--policy, or LILYPAD_POLICY):
 * - wrong-output: runs the job, then changes its stdout before the CID is taken;
 * - copy: skips the work and returns another deal's real result: a copy of the folder at LILYPAD_COPY_FROM
 *   (read when each job comes, so the test can fill it with an honest result first); with nothing there
 *   the job fails.
 * - less-work: runs the job with some of its arguments changed (LILYPAD_CHEAT_ARGS, a JSON object from an
 *   argument as the module passes it to what the cheat passes instead; LILYPAD_CHEAT_DROP, a JSON list of
 *   flags dropped with their values) and, with LILYPAD_CHEAT_MODULE (a .wasm file), another program: fewer
 *   training steps, say, or the base model without the adapter.
 * Configured like `lilypad resource-provider` by environment: WEB3_RPC_URL, WEB3_PRIVATE_KEY,
 * SERVICE_SOLVER, SERVICE_MEDIATORS, LILYPAD_DEALS_ADDRESS, LILYPAD_PRICE (wei), LILYPAD_COLLATERAL_MULTIPLE, LILYPAD_MODULES,
 * LILYPAD_DATA_DIR, LILYPAD_INPUT_GATEWAYS (gateways for jobs' inputs by CID, after the IPFS peers the offer names). Prints one ready line of JSON and stops on SIGTERM.
 */
import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const { connectChain } = await import(`${dist}/chain/index.js`);
const { createWasmExecutor } = await import(`${dist}/executor/wasm/index.js`);
const { createResourceProvider } = await import(`${dist}/resource-provider/resource-provider.js`);
const { createModuleResolver } = await import(`${dist}/module/resolve.js`);
const { createSolverClient } = await import(`${dist}/solver/client.js`);
const { jobInputStore } = await import(`${dist}/module/builtin-data.js`);
const { createIpfsNode } = await import(`${dist}/storage/ipfs-node.js`);
const { openBlockstore, closeBlockstore } = await import(`${dist}/storage/index.js`);

const { values } = parseArgs({ options: { policy: { type: 'string' } } });
const policy = values.policy ?? process.env.LILYPAD_POLICY ?? 'wrong-output';
if (!['wrong-output', 'copy', 'less-work'].includes(policy)) throw new Error(`unknown policy ${policy}`);
const env = process.env;
const dataDir = env.LILYPAD_DATA_DIR;

/** The honest executor, wrapped: the provider code around it is unchanged. */
function cheatingExecutor(honest) {
  return {
    engine: honest.engine,
    isAvailable: () => honest.isAvailable(),
    prepare: () => honest.prepare(),
    close: () => honest.close(),
    async run(request) {
      if (policy === 'less-work') {
        const swaps = JSON.parse(env.LILYPAD_CHEAT_ARGS ?? '{}');
        const dropped = new Set(JSON.parse(env.LILYPAD_CHEAT_DROP ?? '[]'));
        const args = [];
        for (let i = 0; i < request.job.args.length; i++) {
          const arg = request.job.args[i];
          if (dropped.has(arg)) i++;
          else args.push(swaps[arg] ?? arg);
        }
        const module = env.LILYPAD_CHEAT_MODULE ? new Uint8Array(await readFile(env.LILYPAD_CHEAT_MODULE)) : request.job.module;
        return honest.run({ ...request, job: { ...request.job, module, args } });
      }
      if (policy === 'wrong-output') {
        const result = await honest.run(request);
        const stdout = await readFile(path.join(request.resultDir, 'stdout'), 'utf8');
        await writeFile(path.join(request.resultDir, 'stdout'), stdout.replace(/[a-z]/, 'x') + 'trust me\n');
        return result;
      }
      const source = env.LILYPAD_COPY_FROM;
      if (!source || !(await stat(source).catch(() => undefined))?.isDirectory()) {
        throw new Error(`copy: no result to copy at LILYPAD_COPY_FROM (${source ?? 'not set'})`);
      }
      await rm(request.resultDir, { recursive: true, force: true });
      await cp(source, request.resultDir, { recursive: true });
      return { exitCode: 0, resultDir: request.resultDir, truncated: { stdout: false, stderr: false } };
    },
  };
}

const chain = await connectChain({ rpcUrl: env.WEB3_RPC_URL, privateKey: env.WEB3_PRIVATE_KEY });
const blockstore = await openBlockstore(path.join(dataDir, 'blocks'));
const executor = cheatingExecutor(createWasmExecutor());
const inputGateways = (env.LILYPAD_INPUT_GATEWAYS ?? '').split(',').filter(Boolean);
// Its IPFS node on loopback, as an honest provider's: inputs come from the job creator's node the offer names.
const ipfs = createIpfsNode({ blockstore });
await ipfs.start();
const provider = createResourceProvider(
  {
    price: BigInt(env.LILYPAD_PRICE ?? 10n ** 18n),
    collateralMultiple: BigInt(env.LILYPAD_COLLATERAL_MULTIPLE ?? 2),
    capacity: 4,
    machine: { cpu: 4000, gpu: 0, ram: 4096 },
    modules: (env.LILYPAD_MODULES ?? '').split(',').filter(Boolean),
    mediators: env.SERVICE_MEDIATORS.split(','),
    dataDir,
  },
  {
    chain,
    domain: { chainId: chain.chainId, dealsAddress: env.LILYPAD_DEALS_ADDRESS },
    solver: createSolverClient(env.SERVICE_SOLVER),
    executors: [executor],
    modules: createModuleResolver(),
    blockstore,
    ipfs,
    inputs: jobInputStore({ ipfs, gatewayUrls: inputGateways, blockstore }),
  },
);
const stopping = new Promise((resolve) => {
  process.once('SIGTERM', resolve);
  process.once('SIGINT', resolve);
});
await provider.start();
process.stdout.write(JSON.stringify({ ready: 'cheating-provider', pid: process.pid, policy, address: provider.address }) + '\n');
await stopping;
await provider.stop();
await executor.close();
await ipfs.stop();
await closeBlockstore(blockstore);
process.exit(0);
