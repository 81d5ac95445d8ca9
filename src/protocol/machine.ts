/** What a job needs and what a provider has: CPU in milli-CPU, GPU in milli-GPU, RAM in MB. */
export interface MachineSpec {
  cpu: number;
  gpu: number;
  ram: number;
  /**
   * GPU memory in MB of each GPU, where asked: a job's GPUs must each have this much, a provider's GPUs each
   * have at least this much. Per GPU because a model is loaded onto one card; memory added up over several
   * cards does not hold a model that no one card holds.
   */
  gpuMemory?: number;
}

export type Engine = 'wasm' | 'docker';

/** What a machine lacks for a job, in the order the solver and the provider check it. */
export type MachineMisfit = 'cpu' | 'gpu' | 'ram' | 'gpu memory';

/**
 * What keeps `have` from running a job that needs `need`, or undefined when it fits. The solver matches with
 * this and the provider checks its own machine with it before agreeing, so both say the same.
 */
export function machineMisfitOf(need: MachineSpec, have: MachineSpec): MachineMisfit | undefined {
  if (have.cpu < need.cpu) return 'cpu';
  if (have.gpu < need.gpu) return 'gpu';
  if (have.ram < need.ram) return 'ram';
  // A machine that does not say its GPU memory is not assumed to have what the job asks.
  if (need.gpu > 0 && (need.gpuMemory ?? 0) > (have.gpuMemory ?? 0)) return 'gpu memory';
  return undefined;
}

/** `need` against `have` in a user's words: "the module asks for 2 GPUs; this provider has 1". */
export function machineMisfitText(misfit: MachineMisfit, need: MachineSpec, have: MachineSpec): string {
  switch (misfit) {
    case 'cpu':
      return `the module asks for ${need.cpu} milli-CPU; this provider has ${have.cpu}`;
    case 'gpu':
      return `the module asks for ${gpusText(need.gpu)}; this provider has ${gpusText(have.gpu, false)}`;
    case 'ram':
      return `the module asks for ${need.ram} MB of RAM; this provider has ${have.ram} MB`;
    case 'gpu memory':
      return have.gpuMemory === undefined
        ? `the module asks for ${need.gpuMemory} MB of memory on each GPU; this provider does not say its GPUs' memory (--gpu-memory)`
        : `the module asks for ${need.gpuMemory} MB of memory on each GPU; this provider's GPUs have ${have.gpuMemory} MB`;
  }
}

function gpusText(milliGpu: number, withNoun = true): string {
  const cards = milliGpu / 1000;
  const count = Number.isInteger(cards) ? String(cards) : cards.toFixed(3).replace(/0+$/, '');
  return withNoun ? `${count} GPU${cards === 1 ? '' : 's'}` : count;
}
