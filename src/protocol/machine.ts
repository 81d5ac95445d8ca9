/** What a job needs and what a provider has: CPU in milli-CPU, GPU in milli-GPU, RAM in MB. */
export interface MachineSpec {
  cpu: number;
  gpu: number;
  ram: number;
  /** GPU memory in MB, where asked. */
  gpuMemory?: number;
}

export type Engine = 'wasm' | 'docker';
