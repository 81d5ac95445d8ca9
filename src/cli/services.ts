/**
 * `lilypad chain`, `lilypad solver`, `lilypad resource-provider`, `lilypad mediator` and
 * `lilypad faucet`: each role as a process of its own. A service prints one JSON line when it is ready
 * (what `lilypad stack` waits for) and stops cleanly on SIGINT or SIGTERM.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Address, Hex } from 'viem';
import { z } from 'zod';
import { connectChain, fund, startAnvil } from '../chain/index.js';
import { LilypadError, UserInputError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import {
  address,
  chainServiceSchema,
  faucetServiceSchema,
  jobCreatorServiceSchema,
  ipfsSettingOf,
  loadServiceConfig,
  lpAmount,
  mediatorServiceSchema,
  resourceProviderServiceSchema,
  SOLVER_TUNING,
  solverServiceSchema,
  solverTuningOf,
  type SolverTuningField,
} from '../lib/service-config.js';
import { moduleLocationsOf } from '../module/git.js';
import { solverDefaults, type SolverConfig } from '../solver/solver.js';
import { stopSignal } from './signals.js';
import { detectMachine } from '../network/machine.js';
import { startRoles, type RolesConfig, type RunningService } from '../network/wiring.js';

/** A started service; `ended` settles, with the reason, if it stops by itself (the chain's anvil exits). */
type ServedService = RunningService & { chainId?: number; anvilPid?: number; ended?: Promise<string> };

/** Starts a service, prints its ready line, and serves until SIGINT or SIGTERM, then stops it. */
async function serve(name: string, start: () => Promise<ServedService>): Promise<void> {
  const signal = stopSignal();
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  const service = await start();
  const { stop, ended, ...shown } = service;
  if (!signal.aborted) process.stdout.write(JSON.stringify({ ready: name, pid: process.pid, ...shown }) + '\n');
  const endedBy = await Promise.race([stopped.then(() => undefined), ended ?? new Promise<never>(() => undefined)]);
  await stop();
  if (endedBy !== undefined) throw new LilypadError(`${name}: ${endedBy}`, { code: 'service-ended' });
}

type Flags = Record<string, string | undefined> & { config?: string };

/** Flags named like the variables they set: --rpc-url sets WEB3_RPC_URL, and so on. */
const flagNames: Record<string, string> = {
  rpcUrl: 'WEB3_RPC_URL',
  privateKey: 'WEB3_PRIVATE_KEY',
  solver: 'SERVICE_SOLVER',
  mediators: 'SERVICE_MEDIATORS',
  deals: 'LILYPAD_DEALS_ADDRESS',
  token: 'LILYPAD_TOKEN_ADDRESS',
  host: 'LILYPAD_HOST',
  port: 'LILYPAD_PORT',
  price: 'LILYPAD_PRICE',
  collateralMultiple: 'LILYPAD_COLLATERAL_MULTIPLE',
  capacity: 'LILYPAD_CAPACITY',
  cpu: 'LILYPAD_CPU',
  gpu: 'LILYPAD_GPU',
  gpuMemory: 'LILYPAD_GPU_MEMORY',
  ram: 'LILYPAD_RAM',
  modules: 'LILYPAD_MODULES',
  refuseModules: 'LILYPAD_REFUSE_MODULES',
  dataDir: 'LILYPAD_DATA_DIR',
  db: 'LILYPAD_SOLVER_DB',
  state: 'LILYPAD_CHAIN_STATE',
  jobCreator: 'LILYPAD_JOB_CREATOR_ADDRESS',
  maxPrice: 'LILYPAD_MAX_PRICE',
  minSubmitTimeout: 'LILYPAD_MIN_SUBMIT_TIMEOUT',
  maxJudgeWindow: 'LILYPAD_MAX_JUDGE_WINDOW',
  maxMediationTimeout: 'LILYPAD_MAX_MEDIATION_TIMEOUT',
  maxJobTimeout: 'LILYPAD_MAX_JOB_TIMEOUT',
  keepResults: 'LILYPAD_KEEP_RESULTS',
  panel: 'LILYPAD_MEDIATOR_PANEL',
  checks: 'LILYPAD_BRIDGE_CHECKS',
  moduleSources: 'LILYPAD_MODULE_SOURCES',
  inputGateways: 'LILYPAD_INPUT_GATEWAYS',
  ipfsListen: 'LILYPAD_IPFS_LISTEN',
  ipfsPeers: 'LILYPAD_IPFS_PEERS',
  ...Object.fromEntries(SOLVER_TUNING.map((setting) => [setting.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), setting.variable])),
};

/** The solver's rate limits as the flat settings that set them. */
const solverRateDefaults = {
  perAddressRate: solverDefaults.perAddress.rate,
  perAddressBurst: solverDefaults.perAddress.burst,
  perIpRate: solverDefaults.perIp.rate,
  perIpBurst: solverDefaults.perIp.burst,
};

/** A solver setting's default as its flag takes it: seconds for times. */
function solverDefaultOf(field: SolverTuningField): number {
  if (field in solverRateDefaults) return solverRateDefaults[field as keyof typeof solverRateDefaults];
  const value = solverDefaults[field as keyof typeof solverDefaults] as number;
  return field.endsWith('Ms') ? value / 1000 : value;
}

const moduleSourcesHelp = 'where modules may be fetched from, comma-separated: public-https (default), URL prefixes, file:/ or * (LILYPAD_MODULE_SOURCES)';
const inputGatewaysHelp = 'trustless gateways that jobs\' inputs by CID are fetched from after the IPFS peers that the job names, comma-separated (LILYPAD_INPUT_GATEWAYS)';
const ipfsListenHelp = 'where this role\'s IPFS node listens, multiaddrs comma-separated (default /ip4/127.0.0.1/tcp/0: this machine only), or off (LILYPAD_IPFS_LISTEN)';
const ipfsPeersHelp = 'IPFS peers to dial besides those that offers name, such as your own IPFS node: multiaddrs ending in /p2p/<id>, comma-separated (LILYPAD_IPFS_PEERS)';

function settings(flags: Flags) {
  const named: Record<string, string | undefined> = {};
  for (const [flag, variable] of Object.entries(flagNames)) named[variable] = flags[flag];
  return { configFile: flags.config, env: process.env, flags: named };
}


/** The options of every service on a chain: where the chain and the deal contract are, its key if it signs. */
function withChainOptions(command: Command, keyOf?: string): Command {
  command.option('--rpc-url <url>', 'the chain (WEB3_RPC_URL)').option('--deals <address>', 'the deal contract (LILYPAD_DEALS_ADDRESS)');
  if (keyOf) command.option('--private-key <key>', `${keyOf} key (WEB3_PRIVATE_KEY; prefer the environment)`);
  return command.option('--config <file>', 'a JSON file of settings');
}

/** Where a service's chain and deal contract are, from its parsed settings. */
function chainOf(config: { WEB3_RPC_URL: string; LILYPAD_DEALS_ADDRESS: string }) {
  return { rpcUrl: config.WEB3_RPC_URL, dealsAddress: config.LILYPAD_DEALS_ADDRESS as Address };
}

const serviceLogger = (name: string) => createLogger({ name, level: process.env.LILYPAD_LOG_LEVEL ?? 'info' });

type RoleName = 'solver' | 'mediator' | 'resourceProvider' | 'bridge';

/**
 * Starts one role of this process through the one wiring (src/network/wiring.ts), as the embedded network
 * starts its roles, and shows it as `serve` prints it.
 */
async function startRole(
  name: string,
  role: RoleName,
  config: Omit<RolesConfig, 'executorOwner'>,
  chain: { rpcUrl: string; dealsAddress: Address },
): Promise<RunningService> {
  const roles = await startRoles(
    { executorOwner: `lilypad-${name}-${process.pid}`, moduleLocations: moduleLocationsOf(process.env), ...config },
    { chain, logger: serviceLogger(name) },
  );
  const { url, address } = roles[role]!;
  return { ...(address !== undefined ? { address } : {}), ...(url !== undefined ? { url } : {}), stop: () => roles.stop() };
}

export function registerServiceCommands(program: Command): void {
  program
    .command('chain')
    .description('run a local EVM chain (anvil) until stopped; with --state it keeps its state across restarts')
    .option('--host <host>', 'address to listen on (LILYPAD_HOST; default 127.0.0.1, 0.0.0.0 for every interface)')
    .option('--port <port>', 'port to listen on (0 picks a free one)')
    .option('--state <file>', 'load the chain from this file and save it there after every block; one chain per file')
    .option('--config <file>', 'a JSON file of settings')
    .action(async (flags: Flags) => {
      const config = loadServiceConfig(chainServiceSchema, settings(flags));
      await serve('chain', async () => {
        const anvil = await startAnvil({ host: config.LILYPAD_HOST, port: config.LILYPAD_PORT, stateFile: config.LILYPAD_CHAIN_STATE });
        return {
          url: anvil.rpcUrl,
          chainId: anvil.chainId,
          anvilPid: anvil.pid,
          ended: anvil.exited.then(() => `anvil (pid ${anvil.pid}) exited; the chain is down${config.LILYPAD_CHAIN_STATE ? `, its state is in ${config.LILYPAD_CHAIN_STATE}` : ''}`),
          stop: () => anvil.stop(),
        };
      });
    });

  const solverCommand = withChainOptions(
    program
      .command('solver')
      .description('run a solver: matches offers into deals; HTTP + WebSocket API'),
  )
    .option('--host <host>', 'address to listen on (LILYPAD_HOST)')
    .option('--port <port>', 'port to listen on (LILYPAD_PORT)')
    .option('--db <file>', 'the SQLite file that keeps offers and deals across restarts (LILYPAD_SOLVER_DB; default: solver.db in the data dir)')
    .option('--data-dir <dir>', 'where the solver keeps its state (LILYPAD_DATA_DIR)');
  for (const setting of SOLVER_TUNING) {
    solverCommand.option(`--${setting.flag} <${setting.unit}>`, `${setting.help} (${setting.variable}; default ${solverDefaultOf(setting.field)})`);
  }
  solverCommand.action(async (flags: Flags) => {
    const config = loadServiceConfig(solverServiceSchema, settings(flags));
    const dbPath = path.resolve(config.LILYPAD_SOLVER_DB ?? path.join(config.LILYPAD_DATA_DIR, 'solver.db'));
    await mkdir(path.dirname(dbPath), { recursive: true });
    const { perAddressRate, perAddressBurst, perIpRate, perIpBurst, ...tuning } = { ...solverRateDefaults, ...solverTuningOf(config) };
    const solver: SolverConfig = {
      host: config.LILYPAD_HOST,
      port: config.LILYPAD_PORT,
      dbPath,
      ...tuning,
      rateLimits: { perAddress: { rate: perAddressRate, burst: perAddressBurst }, perIp: { rate: perIpRate, burst: perIpBurst } },
    };
    await serve('solver', () => startRole('solver', 'solver', { solver }, chainOf(config)));
  });

  withChainOptions(
    program
      .command('resource-provider')
      .description('sell compute: post offers, run deals, submit results'),
    "this provider's",
  )
    .option('--solver <url>', 'the solver (SERVICE_SOLVER)')
    .option('--mediators <addresses>', 'trusted mediators, comma-separated (SERVICE_MEDIATORS)')
    .option('--price <LP>', 'price per job in LP (LILYPAD_PRICE)')
    .option('--collateral-multiple <n>', 'collateral per deal as a multiple of the price (LILYPAD_COLLATERAL_MULTIPLE)')
    .option('--capacity <n>', 'jobs at once (LILYPAD_CAPACITY)')
    .option('--cpu <milli>', 'CPU offered in milli-CPU (LILYPAD_CPU; default: all of this machine)')
    .option('--gpu <milli>', 'GPU offered in milli-GPU, 1000 a card (LILYPAD_GPU; default: the NVIDIA GPUs nvidia-smi lists)')
    .option('--gpu-memory <MB>', 'memory of each GPU in MB (LILYPAD_GPU_MEMORY; default: the smallest card\'s, from nvidia-smi)')
    .option('--ram <MB>', 'RAM offered in MB (LILYPAD_RAM)')
    .option('--modules <names>', 'modules allowed, comma-separated; empty allows all (LILYPAD_MODULES)')
    .option('--refuse-modules <names>', 'modules refused, comma-separated: those `lilypad module test` flags as not deterministic (LILYPAD_REFUSE_MODULES)')
    .option('--data-dir <dir>', 'where jobs and result blocks are kept (LILYPAD_DATA_DIR)')
    .option('--host <host>', 'address of the result gateway (LILYPAD_HOST)')
    .option('--port <port>', 'port of the result gateway (LILYPAD_PORT)')
    .option('--min-submit-timeout <s>', 'the shortest submit timeout a deal may have (LILYPAD_MIN_SUBMIT_TIMEOUT; default 60)')
    .option('--max-judge-window <s>', 'the longest judge window a deal may have (LILYPAD_MAX_JUDGE_WINDOW; default 3600)')
    .option('--max-mediation-timeout <s>', 'the longest a challenged deal may hold the collateral (LILYPAD_MAX_MEDIATION_TIMEOUT; default 3600)')
    .option('--max-job-timeout <s>', 'the longest Timeout a module may ask for here (LILYPAD_MAX_JOB_TIMEOUT; default 3600)')
    .option('--keep-results <duration>', 'how long result blocks are kept after their deal ends, said in every offer: 7d, 12h, 3600 (LILYPAD_KEEP_RESULTS; default 7d)')
    .option('--module-sources <list>', moduleSourcesHelp)
    .option('--input-gateways <urls>', inputGatewaysHelp)
    .option('--ipfs-listen <multiaddrs>', ipfsListenHelp)
    .option('--ipfs-peers <multiaddrs>', ipfsPeersHelp)
    .action(async (flags: Flags) => {
      const config = loadServiceConfig(resourceProviderServiceSchema(detectMachine()), settings(flags));
      await serve('resource-provider', () =>
        startRole('resource-provider', 'resourceProvider', {
          solverUrl: config.SERVICE_SOLVER,
          moduleSources: config.LILYPAD_MODULE_SOURCES,
          inputGateways: config.LILYPAD_INPUT_GATEWAYS,
          ipfs: ipfsSettingOf(config),
          resourceProvider: {
            privateKey: config.WEB3_PRIVATE_KEY as Hex,
            mediators: config.SERVICE_MEDIATORS as Address[],
            price: config.LILYPAD_PRICE,
            collateralMultiple: config.LILYPAD_COLLATERAL_MULTIPLE,
            capacity: config.LILYPAD_CAPACITY,
            machine: {
              cpu: config.LILYPAD_CPU,
              gpu: config.LILYPAD_GPU,
              ram: config.LILYPAD_RAM,
              ...(config.LILYPAD_GPU_MEMORY !== undefined ? { gpuMemory: config.LILYPAD_GPU_MEMORY } : {}),
            },
            modules: config.LILYPAD_MODULES,
            refuseModules: config.LILYPAD_REFUSE_MODULES,
            dataDir: path.resolve(config.LILYPAD_DATA_DIR),
            host: config.LILYPAD_HOST,
            port: config.LILYPAD_PORT,
            minSubmitTimeout: config.LILYPAD_MIN_SUBMIT_TIMEOUT,
            maxJudgeWindow: config.LILYPAD_MAX_JUDGE_WINDOW,
            maxMediationTimeout: config.LILYPAD_MAX_MEDIATION_TIMEOUT,
            maxJobTimeoutSeconds: config.LILYPAD_MAX_JOB_TIMEOUT,
            resultsKeptFor: config.LILYPAD_KEEP_RESULTS,
          },
        }, chainOf(config)),
      );
    });

  withChainOptions(
    program
      .command('mediator')
      .description('run a mediator: re-run the challenged jobs it is drawn for and rule on chain'),
    "the mediator's",
  )
    .option('--solver <url>', 'the solver, where challenged deals\' offers are read (SERVICE_SOLVER)')
    .option('--data-dir <dir>', 'where re-runs and both results of a disputed deal are kept (LILYPAD_DATA_DIR)')
    .option('--panel <urls>', 'other mediators that must re-run each challenge too; rules only with a majority (LILYPAD_MEDIATOR_PANEL)')
    .option('--host <host>', 'address to serve re-runs to other mediators on (LILYPAD_HOST)')
    .option('--port <port>', 'port to serve re-runs on; unset: not served (LILYPAD_PORT)')
    .option('--module-sources <list>', moduleSourcesHelp)
    .option('--input-gateways <urls>', inputGatewaysHelp)
    .option('--ipfs-listen <multiaddrs>', ipfsListenHelp)
    .option('--ipfs-peers <multiaddrs>', ipfsPeersHelp)
    .action(async (flags: Flags) => {
      const config = loadServiceConfig(mediatorServiceSchema, settings(flags));
      await serve('mediator', () =>
        startRole('mediator', 'mediator', {
          // The mediator fetches challenged deals' job offers from the solver (and checks them against the deal id).
          solverUrl: config.SERVICE_SOLVER,
          moduleSources: config.LILYPAD_MODULE_SOURCES,
          inputGateways: config.LILYPAD_INPUT_GATEWAYS,
          ipfs: ipfsSettingOf(config),
          mediator: {
            privateKey: config.WEB3_PRIVATE_KEY as Hex,
            dataDir: config.LILYPAD_DATA_DIR ? path.resolve(config.LILYPAD_DATA_DIR) : undefined,
            panel: config.LILYPAD_MEDIATOR_PANEL,
            listen: config.LILYPAD_PORT !== undefined ? { host: config.LILYPAD_HOST, port: config.LILYPAD_PORT } : undefined,
          },
        }, chainOf(config)),
      );
    });

  withChainOptions(
    program
      .command('jobcreator')
      .description('run the bridge of the on-chain job creator: run the jobs that contracts ask for, and call them back'),
    "the on-chain job creator's operator",
  )
    .option('--solver <url>', 'the solver (SERVICE_SOLVER)')
    .option('--mediators <addresses>', 'mediators, comma-separated (SERVICE_MEDIATORS)')
    .option('--job-creator <address>', 'the on-chain job creator contract (LILYPAD_JOB_CREATOR_ADDRESS)')
    .option('--max-price <LP>', 'the most one job may cost (LILYPAD_MAX_PRICE)')
    .option('--data-dir <dir>', 'where results and blocks are kept (LILYPAD_DATA_DIR)')
    .option('--checks <mode>', 're-run jobs here and challenge a differing result through the contract: audit (a share of jobs at the computed rate; default), verify (every job) or none (LILYPAD_BRIDGE_CHECKS)')
    .option('--module-sources <list>', moduleSourcesHelp)
    .option('--ipfs-listen <multiaddrs>', ipfsListenHelp)
    .option('--ipfs-peers <multiaddrs>', ipfsPeersHelp)
    .action(async (flags: Flags) => {
      const config = loadServiceConfig(jobCreatorServiceSchema, settings(flags));
      await serve('jobcreator', () =>
        startRole('jobcreator', 'bridge', {
          solverUrl: config.SERVICE_SOLVER,
          ipfs: ipfsSettingOf(config),
          moduleSources: config.LILYPAD_MODULE_SOURCES,
          bridge: {
            privateKey: config.WEB3_PRIVATE_KEY as Hex,
            contract: config.LILYPAD_JOB_CREATOR_ADDRESS as Address,
            mediators: config.SERVICE_MEDIATORS as Address[],
            maxPrice: config.LILYPAD_MAX_PRICE,
            // Re-runs here, challenged through the contract when they differ: a share of jobs, every job, or none.
            audit: config.LILYPAD_BRIDGE_CHECKS !== 'none',
            verify: config.LILYPAD_BRIDGE_CHECKS === 'verify',
            dataDir: path.resolve(config.LILYPAD_DATA_DIR),
          },
        }, chainOf(config)),
      );
    });

  withChainOptions(
    program
      .command('faucet')
      .description('fund an address with ETH and LP (needs the token owner\'s key in WEB3_PRIVATE_KEY)'),
    "the token owner's",
  )
    .argument('<address>', 'the address to fund')
    .option('--eth <amount>', 'ETH to send', '1')
    .option('--lp <amount>', 'LP to mint into the wallet', '100')
    .option('--escrow <amount>', 'LP to deposit into the address\'s escrow', '0')
    .option('--token <address>', 'the LP token (LILYPAD_TOKEN_ADDRESS)')
    .action(async (to: string, flags: Flags & { eth: string; lp: string; escrow: string }) => {
      const target = address.safeParse(to);
      if (!target.success) throw new UserInputError(`faucet: ${to} is not an address`, { code: 'input-malformed' });
      const config = loadServiceConfig(faucetServiceSchema, settings(flags));
      const amounts = z.object({ eth: lpAmount, lp: lpAmount, escrow: lpAmount }).parse(flags);
      const owner = await connectChain({ rpcUrl: config.WEB3_RPC_URL, privateKey: config.WEB3_PRIVATE_KEY as Hex });
      const result = await fund({
        walletClient: owner.walletClient,
        publicClient: owner.publicClient,
        token: config.LILYPAD_TOKEN_ADDRESS as Address,
        deals: config.LILYPAD_DEALS_ADDRESS as Address,
        to: target.data as Address,
        eth: amounts.eth,
        lp: amounts.lp,
        escrow: amounts.escrow,
      });
      process.stdout.write(`funded ${to}: ${flags.eth} ETH, ${flags.lp} LP, ${flags.escrow} LP in escrow (${result.transactionHashes.length} transactions)\n`);
    });
}
