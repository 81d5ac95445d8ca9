/**
 * A provider never trusts the solver or the job creator about what a job needs: it renders the module
 * itself and refuses, before agreeing, a deal its own machine cannot run.
 */
import { readFileSync } from 'node:fs';
import type { Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import type { ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import type { ModuleResolver, ResolvedModule } from '../module/resolve.js';
import type { MachineSpec } from '../protocol/machine.js';
import type { Deal } from '../protocol/deals.js';
import { createDealChecks } from './deal-checks.js';

const sdxl = readFileSync(new URL('../../test/fixtures/modules/sdxl/lilypad_module.json.tmpl', import.meta.url), 'utf8');

/** Every module ref resolves to the sdxl fixture, whatever the offer says. */
const modules: ModuleResolver = {
  resolve: async (name) => ({ name, template: sdxl }) as unknown as ResolvedModule,
  resolveRef: async (ref, name) => ({ name, ref, dir: '/nonexistent', template: sdxl }),
};
const docker: Executor = {
  engine: 'docker',
  isAvailable: async () => true,
  prepare: async () => undefined,
  run: async () => {
    throw new Error('not run here');
  },
  close: async () => undefined,
};

/** A deal whose job offer says (as a lying job creator or solver would) that the job needs no GPU. */
async function lyingDeal(n: number): Promise<Deal> {
  const jobOffer = await signedJobOffer({ moduleName: 'sdxl:v0.1.0', inputs: {}, machine: { cpu: 100, gpu: 0, ram: 64 } });
  const resourceOffer = await signedResourceOffer();
  return { dealId: `0x${n.toString(16).padStart(64, '0')}` as Hex, resourceOfferId: `0x${'0'.repeat(64)}`, state: 'matched', jobOffer, resourceOffer } as Deal;
}

function checksFor(machine: MachineSpec) {
  return createDealChecks(
    { modules: [], machine },
    { chain: {} as ChainClients, domain: testDomain, modules, executors: [docker] },
  );
}

describe("a provider's checks of a GPU deal", () => {
  it('refuse a deal that needs more GPUs than the machine has, though the offer said none', async () => {
    await expect(checksFor({ cpu: 16000, gpu: 0, ram: 65536 }).prepare(await lyingDeal(1))).rejects.toThrow(
      'the module asks for 1 GPU; this provider has 0',
    );
  });

  it('refuse a deal whose GPU memory this machine lacks on each card, or does not know', async () => {
    await expect(checksFor({ cpu: 16000, gpu: 2000, ram: 65536, gpuMemory: 16000 }).prepare(await lyingDeal(2))).rejects.toThrow(
      "the module asks for 24000 MB of memory on each GPU; this provider's GPUs have 16000 MB",
    );
    await expect(checksFor({ cpu: 16000, gpu: 2000, ram: 65536 }).prepare(await lyingDeal(3))).rejects.toThrow(
      "the module asks for 24000 MB of memory on each GPU; this provider does not say its GPUs' memory (--gpu-memory)",
    );
  });

  it('prepare it on a machine that has the card: its container asks for one GPU', async () => {
    const prepared = await checksFor({ cpu: 16000, gpu: 1000, ram: 65536, gpuMemory: 24576 }).prepare(await lyingDeal(4));
    expect(prepared.executorJob).toMatchObject({ engine: 'docker', resources: { gpus: 1 } });
  });
});
