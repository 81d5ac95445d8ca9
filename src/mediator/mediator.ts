/**
 * The mediator: watches the chain for challenges that drew it, re-runs the job itself (resolving and
 * rendering the module as the provider had to, from the job offer whose hash is the deal id), takes the
 * CID of its own result folder, and rules on chain: the provider's results were right when the CIDs are
 * equal. A job it cannot re-run gets no ruling, and the deal's mediation timeout returns everyone's money.
 *
 * When the CIDs differ it keeps both results for inspection under `<dataDir>/deals/<dealId>/`: `mediator/`
 * (its re-run), `provider/` (the submitted result, fetched by CID from the provider's gateway with every
 * block checked) and `ruling.json`.
 *
 * Several mediators can be made to agree without a change to the deal contract, which draws one mediator
 * per deal: a mediator with a `panel` (the URLs of other mediator processes) asks each of them to re-run
 * the challenged job too (`POST /api/v1/deals/:id/rerun`, served when `listen` is set; they only re-run
 * deals that are under mediation on chain) and rules only when a strict majority of the panel and itself
 * got the same CID. Without a majority it does not rule, and the mediation timeout refunds the job creator
 * and releases the collateral.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import { CID } from 'multiformats/cid';
import type { Address, Hex } from 'viem';
import { getDeal, lilypadDealsAbi, mediate, type ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { prepareRerun, runPreparedJob, type PrepareJobComponents } from '../module/prepare-job.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { Deal } from '../protocol/deals.js';
import { jobOfferId, type OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { peersThenGateways } from '../storage/block-source.js';
import { cidOfDirectory, exportDirectory, type Blockstore } from '../storage/index.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

export interface MediatorConfig {
  /** Where re-runs, and both results of a deal whose CIDs differ, are kept. */
  dataDir: string;
  /** Other mediator processes (base URLs) to re-run each challenged job too; a majority must agree. */
  panel?: string[];
  /** Serve `POST /api/v1/deals/:id/rerun` for the mediators whose panel this one is on. */
  listen?: { host?: string; port?: number };
  /** How long a panel member may take to answer (ms); default 5 minutes. */
  panelTimeoutMs?: number;
}

export interface MediatorComponents {
  /** The mediator's account rules; its address is the one offers name. */
  chain: ChainClients;
  domain: OfferDomain;
  /** Where the job offer of a challenged deal is fetched from (and then checked against the deal id). */
  solver: SolverClient;
  executors: Executor[];
  modules: ModuleResolver;
  /** Where jobs' inputs by CID come from, as for the provider: a re-run must see the same bytes. */
  inputs?: PrepareJobComponents['inputs'];
  /** Where inputs and providers' results are kept; the mediator's IPFS node serves it. */
  blockstore: Blockstore;
  /** Its IPFS node over `blockstore`: providers' results are fetched from their nodes first, then their gateways. */
  ipfs?: IpfsNode;
  logger?: Logger;
}

export interface PanelVote {
  /** A panel member's URL, or 'self'. */
  member: string;
  /** The CID it got, or undefined when it could not re-run the job or did not answer. */
  cid?: string;
  error?: string;
}

export interface Ruling {
  dealId: Hex;
  submittedCid: string;
  mediatorCid: string;
  resultsCorrect: boolean;
  /** Every vote, when a panel was asked. */
  votes?: PanelVote[];
  /** Where both results are kept, when they differ. */
  keptIn?: string;
}

export interface Mediator extends Service {
  /** Rulings made since start. */
  rulings(): Ruling[];
  /** Resolves when every challenge seen so far has been ruled on (or given up). */
  idle(): Promise<void>;
  /** The rerun endpoint's URL, when `listen` is set and the mediator is started. */
  readonly url: string | undefined;
}

/** The CID that a strict majority of `votes` agree on, if any. */
export function majorityCid(votes: readonly PanelVote[]): string | undefined {
  const counts = new Map<string, number>();
  for (const vote of votes) if (vote.cid) counts.set(vote.cid, (counts.get(vote.cid) ?? 0) + 1);
  for (const [cid, count] of counts) if (count * 2 > votes.length) return cid;
  return undefined;
}

export function createMediator(config: MediatorConfig, components: MediatorComponents): Mediator {
  const logger = components.logger ?? silentLogger;
  const address = components.chain.walletClient.account.address;
  const deals = components.domain.dealsAddress;
  const rulings: Ruling[] = [];
  const inFlight = new Map<Hex, Promise<void>>();
  const reruns = new Map<Hex, Promise<string>>();
  let unwatch: (() => void) | undefined;
  let http: RunningHttpServer | undefined;

  const dealDir = (dealId: Hex) => path.join(config.dataDir, 'deals', dealId);

  /** A deal under mediation on chain, and its job offer from the solver, checked against the deal id. */
  async function challengedDeal(dealId: Hex): Promise<{ deal: Deal; submittedCid: string; mediator: Address } | undefined> {
    const onChain = await getDeal(components.chain.publicClient, { deals, dealId });
    if (onChain?.state !== 'results-checked') return undefined;
    const deal = await components.solver.getDeal(dealId);
    // The solver is not trusted: the offer must be the one whose EIP-712 hash is the deal id.
    if (jobOfferId(components.domain, deal.jobOffer.terms).toLowerCase() !== dealId.toLowerCase()) {
      throw new Error('the solver sent a job offer that is not this deal’s');
    }
    return { deal, submittedCid: onChain.resultCid, mediator: onChain.mediator };
  }

  /** Re-runs the deal's job into `<dealDir>/mediator` once, however often it is asked; returns the CID. */
  function rerun(deal: Deal): Promise<string> {
    const existing = reruns.get(deal.dealId);
    if (existing) return existing;
    const work = (async () => {
      const resultDir = path.join(dealDir(deal.dealId), 'mediator');
      // The same preparation and run as the provider's, a recorded failure included, so the CIDs compare.
      await runPreparedJob(await prepareRerun(deal, components), { jobId: deal.dealId, resultDir });
      return (await cidOfDirectory(resultDir)).toString();
    })();
    reruns.set(deal.dealId, work);
    work.catch(() => reruns.delete(deal.dealId));
    return work;
  }

  async function askPanelMember(url: string, dealId: Hex): Promise<PanelVote> {
    try {
      const response = await fetch(new URL(`/api/v1/deals/${dealId}/rerun`, url), {
        method: 'POST',
        signal: AbortSignal.timeout(config.panelTimeoutMs ?? 300_000),
      });
      const body = (await response.json().catch(() => ({}))) as { cid?: unknown; error?: unknown };
      if (!response.ok || typeof body.cid !== 'string') return { member: url, error: String(body.error ?? `HTTP ${response.status}`) };
      CID.parse(body.cid);
      return { member: url, cid: body.cid };
    } catch (error) {
      return { member: url, error: (error as Error).message };
    }
  }

  /** Fetches the provider's result by CID next to the re-run, for whoever looks into the dispute. */
  async function keepProviderResult(deal: Deal, submittedCid: string): Promise<void> {
    const store = components.blockstore;
    const cid = CID.parse(submittedCid);
    const source = peersThenGateways({ ipfs: components.ipfs, gatewayUrls: [deal.resourceOffer.details.resultsUrl], blockstore: store });
    await source.fetchDag(cid, { signal: AbortSignal.timeout(120_000), peers: deal.resourceOffer.details.ipfsPeers });
    const target = path.join(dealDir(deal.dealId), 'provider');
    await rm(target, { recursive: true, force: true });
    await exportDirectory(cid, store, target);
  }

  async function rule(dealId: Hex): Promise<void> {
    const challenged = await challengedDeal(dealId);
    if (!challenged || challenged.mediator.toLowerCase() !== address.toLowerCase()) return;
    const { deal, submittedCid } = challenged;
    const panel = config.panel ?? [];
    const [own, ...others] = await Promise.all([
      rerun(deal).then(
        (cid): PanelVote => ({ member: 'self', cid }),
        (error: Error): PanelVote => ({ member: 'self', error: error.message }),
      ),
      ...panel.map((url) => askPanelMember(url, dealId)),
    ]);
    const votes = [own!, ...others];
    const agreed = panel.length === 0 ? own!.cid : majorityCid(votes);
    if (agreed === undefined) {
      if (panel.length === 0) throw new Error(own!.error ?? 'the re-run gave no CID');
      logger.warn({ dealId, votes }, 'the panel does not agree; no ruling, the mediation will time out');
      return;
    }
    const resultsCorrect = agreed === submittedCid;
    // Nothing to inspect when the results were right; cleared before the ruling, which is what others wait for.
    if (resultsCorrect) await rm(dealDir(dealId), { recursive: true, force: true });
    await mediate(components.chain, { deals, dealId, resultsCorrect });
    const ruling: Ruling = { dealId, submittedCid, mediatorCid: agreed, resultsCorrect, votes: panel.length > 0 ? votes : undefined };
    if (!resultsCorrect) {
      // Fetched after the ruling, so that a slow or absent provider gateway cannot delay it; ruling.json comes last.
      ruling.keptIn = dealDir(dealId);
      await keepProviderResult(deal, submittedCid).catch((error) =>
        logger.warn({ dealId, err: error }, 'could not fetch the provider’s result; only the re-run is kept'),
      );
      await writeFile(path.join(dealDir(dealId), 'ruling.json'), JSON.stringify(ruling, null, 2) + '\n');
    }
    rulings.push(ruling);
    logger.info({ dealId, resultsCorrect, submittedCid, mediatorCid: agreed }, 'ruled');
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
      if (config.listen) {
        const app = new Hono();
        // A panel member re-runs only what is under mediation on chain, so it is not free compute.
        app.post('/api/v1/deals/:id/rerun', async (c) => {
          const dealId = c.req.param('id').toLowerCase() as Hex;
          if (!/^0x[0-9a-f]{64}$/.test(dealId)) return c.json({ error: 'not a deal id' }, 400);
          try {
            const challenged = await challengedDeal(dealId);
            if (!challenged) return c.json({ error: 'this deal is not under mediation' }, 409);
            const cid = await rerun(challenged.deal);
            return c.json({ dealId, mediator: address, cid });
          } catch (error) {
            return c.json({ error: (error as Error).message }, 422);
          }
        });
        http = await listen(app, config.listen);
      }
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
      await http?.close();
      http = undefined;
    },
  });
  return {
    ...lifecycle,
    rulings: () => [...rulings],
    async idle() {
      await Promise.allSettled(inFlight.values());
    },
    get url() {
      return http?.url;
    },
  };
}
