/** What this machine offers a resource provider unless told otherwise: its CPUs, GPUs and memory. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { MachineSpec } from '../protocol/machine.js';

/**
 * CPU, GPU and RAM of this machine, as a provider offers them unless told otherwise; GPU memory is the
 * smallest card's, because a job asking for vram needs it on each of the cards it may be given.
 */
export function detectMachine(): MachineSpec {
  const gpus = detectGpus();
  return {
    cpu: os.availableParallelism() * 1000,
    gpu: gpus.length * 1000,
    ram: Math.floor(os.totalmem() / 1024 / 1024),
    ...(gpus.length > 0 ? { gpuMemory: Math.min(...gpus) } : {}),
  };
}

/**
 * The memory (MB) of each NVIDIA GPU, from `nvidia-smi` where it is installed; none where it is not or fails.
 * GPUs are counted in milli-GPU like CPUs (1000 a card).
 */
export function detectGpus(): number[] {
  try {
    const output = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return output
      .split('\n')
      .map((line) => Number.parseInt(line.trim(), 10))
      .filter((mb) => Number.isFinite(mb) && mb > 0);
  } catch {
    return [];
  }
}
