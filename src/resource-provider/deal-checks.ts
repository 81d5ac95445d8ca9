/**
 * What a provider checks before it puts its collateral behind a deal, and the job that comes out of the
 * checks ready to run: the job offer is signed by its job creator, the terms make a deal with this
 * provider's offer, the module is allowed (and not refused) by its signed id, and the job renders, fits
 * this machine and its longest timeout. Each deal is checked once while it is being moved along (the module
 * is hashed each time), and each name in the allow and refuse lists is resolved once.
 */
import { isHex, type Hex } from 'viem';
import { prepareJob, type PreparedJob } from '../module/prepare-job.js';
import { machineOf } from '../module/spec.js';
import { termsMisfitOf, termsMisfitText } from '../protocol/agreement.js';
import type { Deal } from '../protocol/deals.js';
import { moduleIdOf } from '../protocol/ids.js';
import { machineMisfitOf, machineMisfitText } from '../protocol/machine.js';
import { verifyJobOfferSignature } from '../protocol/offers.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';

export type DealChecksConfig = Pick<ResourceProviderConfig, 'modules' | 'refuseModules' | 'machine' | 'maxJobTimeoutSeconds'>;

export type DealChecksComponents = Pick<ResourceProviderComponents, 'chain' | 'domain' | 'modules' | 'executors' | 'inputs'>;

export interface DealChecks {
  /** The deal checked and its job prepared; throws, saying why, when the provider must not agree it. */
  prepare(deal: Deal): Promise<PreparedJob>;
  /** Drops the deal's prepared job once nobody is moving it along. */
  forget(dealId: Hex): void;
}

export function createDealChecks(config: DealChecksConfig, components: DealChecksComponents): DealChecks {
  const prepared = new Map<Hex, Promise<PreparedJob>>();
  /** Module ids of the names in the allow and refuse lists: a name in an offer is only the job creator's word. */
  const listedModuleIds = new Map<string, Promise<string | undefined>>();

  /** Whether `moduleId` is one that `list` names, by id or by a name that resolves to it. */
  async function listsModule(list: readonly string[], moduleId: Hex): Promise<boolean> {
    for (const entry of list) {
      if (isHex(entry) && entry.length === 66) {
        if (entry.toLowerCase() === moduleId.toLowerCase()) return true;
        continue;
      }
      let id = listedModuleIds.get(entry);
      if (!id) {
        id = components.modules.resolve(entry).then((module) => moduleIdOf(module.ref), () => undefined);
        listedModuleIds.set(entry, id);
      }
      if ((await id) === moduleId.toLowerCase()) return true;
    }
    return false;
  }

  async function checkDeal(deal: Deal): Promise<PreparedJob> {
    const job = deal.jobOffer;
    if (!(await verifyJobOfferSignature(components.domain, job, components.chain.publicClient))) throw new Error('job offer signature is not the job creator\'s');
    const misfit = termsMisfitOf(job.terms, deal.resourceOffer.terms);
    if (misfit) throw new Error(`this provider's offer ${termsMisfitText[misfit]}`);
    if (config.modules.length > 0 && !(await listsModule(config.modules, job.terms.moduleId))) {
      throw new Error(`module ${job.moduleName} (id ${job.terms.moduleId}) is not in this provider's allowlist`);
    }
    // A module whose re-run can differ would lose this provider its collateral to any challenge; refused by
    // its name and by its id, so that another name for it does not get it run.
    const refused = config.refuseModules ?? [];
    if (refused.includes(job.moduleName) || (await listsModule(refused, job.terms.moduleId))) {
      throw new Error(`module ${job.moduleName} is refused here (refuseModules: not deterministic)`);
    }
    const ready = await prepareJob(job, components);
    // What the module asks, rendered here: the job offer's `machine` is only the job creator's (and the
    // solver's) word, and a GPU job on a machine without the GPUs fails after the collateral is locked.
    const machine = machineOf(ready.spec);
    const lacks = machineMisfitOf(machine, config.machine);
    if (lacks) throw new Error(machineMisfitText(lacks, machine, config.machine));
    // Without a Timeout of its own a job gets the network's default (the same in every re-run, so a mediator
    // stops it where the provider did); either way the deal runner stops it in time to submit before the
    // deal's deadline. Memory is held to the module's declared RAM.
    const asked = ready.spec.job.Spec.Timeout;
    const maxTimeout = config.maxJobTimeoutSeconds ?? 3600;
    if (asked !== undefined && asked > maxTimeout) throw new Error(`the module's Timeout of ${asked} s is longer than this provider's maximum of ${maxTimeout} s`);
    return ready;
  }

  return {
    prepare(deal) {
      let ready = prepared.get(deal.dealId);
      if (!ready) {
        ready = checkDeal(deal);
        // A failed check is not kept: the next look (after a restart of the deal's mover) checks again.
        ready.catch(() => prepared.delete(deal.dealId));
        prepared.set(deal.dealId, ready);
      }
      return ready;
    },
    forget(dealId) {
      prepared.delete(dealId);
    },
  };
}
