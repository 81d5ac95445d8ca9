/**
 * The mediator: watches the chain for challenges that drew it, re-runs the job itself (resolving and
 * rendering the module as the provider had to, from the job offer whose hash is the deal id), takes the
 * CID of its own result folder, and rules on chain: the provider's results were right when the CIDs are
 * equal. A job it cannot re-run gets no ruling, and the deal's mediation timeout returns everyone's money.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Hex } from 'viem';
import { getDeal, lilypadDealsAbi, mediate, type ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { executorJobOf } from '../module/executor-job.js';
import { renderModule } from '../module/render.js';
import type { ModuleResolver } from '../module/resolve.js';
import { engineOf } from '../module/spec.js';
import { jobOfferId, type OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { cidOfDirectory } from '../storage/index.js';

export interface MediatorConfig {
  /** Where re-runs are written. */
  dataDir: string;
}

export interface MediatorComponents {
  /** The mediator's account rules; its address is the one offers name. */
  chain: ChainClients;
  domain: OfferDomain;
  /** Where the job offer of a challenged deal is fetched from (and then checked against the deal id). */
  solver: SolverClient;
  executors: Executor[];
  modules: ModuleResolver;
  logger?: Logger;
}

export interface Ruling {
  dealId: Hex;
  submittedCid: string;
  mediatorCid: string;
  resultsCorrect: boolean;
}

export interface Mediator extends Service {
  /** Rulings made since start. */
  rulings(): Ruling[];
  /** Resolves when every challenge seen so far has been ruled on (or given up). */
  idle(): Promise<void>;
}

export function createMediator(config: MediatorConfig, components: MediatorComponents): Mediator {
  const logger = components.logger ?? silentLogger;
  const address = components.chain.walletClient.account.address;
  const deals = components.domain.dealsAddress;
  const rulings: Ruling[] = [];
  const inFlight = new Map<Hex, Promise<void>>();
  let unwatch: (() => void) | undefined;

  async function rule(dealId: Hex): Promise<void> {
    const onChain = await getDeal(components.chain.publicClient, { deals, dealId });
    if (onChain?.state !== 'results-checked' || onChain.mediator.toLowerCase() !== address.toLowerCase()) return;
    const deal = await components.solver.getDeal(dealId);
    // The solver is not trusted: the offer must be the one whose EIP-712 hash is the deal id.
    if (jobOfferId(components.domain, deal.jobOffer.terms).toLowerCase() !== dealId.toLowerCase()) {
      throw new Error('the solver sent a job offer that is not this deal’s');
    }
    const job = deal.jobOffer;
    const module = await components.modules.resolveRef(job.module, job.moduleName);
    const spec = renderModule(job.moduleName, module.template, job.inputs);
    const engine = engineOf(spec);
    const executor = components.executors.find((e) => e.engine === engine);
    if (!executor) throw new Error(`no ${engine} executor here`);
    const resultDir = path.join(config.dataDir, 'reruns', dealId);
    await rm(resultDir, { recursive: true, force: true });
    await mkdir(resultDir, { recursive: true });
    const timeoutSeconds = spec.job.Spec.Timeout;
    await executor.run({
      jobId: dealId,
      job: await executorJobOf(module, spec),
      resultDir,
      limits: timeoutSeconds ? { wallClockMs: timeoutSeconds * 1000 } : undefined,
    });
    const mediatorCid = (await cidOfDirectory(resultDir)).toString();
    const resultsCorrect = mediatorCid === onChain.resultCid;
    await mediate(components.chain, { deals, dealId, resultsCorrect });
    rulings.push({ dealId, submittedCid: onChain.resultCid, mediatorCid, resultsCorrect });
    logger.info({ dealId, resultsCorrect, submittedCid: onChain.resultCid, mediatorCid }, 'ruled');
    await components.solver.syncDeal(dealId).catch(() => undefined);
  }

  function onChallenge(dealId: Hex): void {
    if (inFlight.has(dealId)) return;
    inFlight.set(
      dealId,
      rule(dealId).catch((error) => logger.error({ dealId, err: error }, 'could not rule; the mediation will time out')),
    );
  }

  const lifecycle = onceLifecycle({
    async start() {
      unwatch = components.chain.publicClient.watchContractEvent({
        address: deals,
        abi: lilypadDealsAbi,
        eventName: 'ResultsChallenged',
        args: { mediator: address },
        onLogs: (logs) => {
          for (const log of logs) if (log.args.dealId) onChallenge(log.args.dealId);
        },
        onError: (error) => logger.warn({ err: error }, 'watching the chain failed; retrying'),
      });
    },
    async stop() {
      unwatch?.();
      unwatch = undefined;
      await Promise.allSettled(inFlight.values());
    },
  });
  return {
    ...lifecycle,
    rulings: () => [...rulings],
    async idle() {
      await Promise.allSettled(inFlight.values());
    },
  };
}
