/**
 * The rendered module: `machine` (what the job needs) and `job` in the Bacalhau V1beta1 shape that
 * Lilypad modules use. Only what the executors read is checked here; unknown keys pass through.
 */
import { z } from 'zod';
import type { Engine, MachineSpec } from '../protocol/machine.js';

const wasmSchema = z.object({
  EntryModule: z.object({ CID: z.string().min(1), StorageSource: z.string().optional() }),
  EntryPoint: z.string().default('_start'),
  Parameters: z.array(z.string()).default([]),
  EnvironmentVariables: z.record(z.string(), z.string()).default({}),
});

export const moduleSpecSchema = z.object({
  machine: z.object({
    cpu: z.number().nonnegative(),
    gpu: z.number().nonnegative().default(0),
    ram: z.number().nonnegative(),
    gpuMemory: z.number().nonnegative().optional(),
  }),
  job: z.object({
    APIVersion: z.literal('V1beta1'),
    Spec: z.object({
      Engine: z.enum(['Wasm', 'Docker']),
      Wasm: wasmSchema.optional(),
      Timeout: z.number().positive().optional(),
    }).passthrough(),
  }).passthrough(),
});

export type ModuleSpec = z.infer<typeof moduleSpecSchema>;
export type WasmSpec = z.infer<typeof wasmSchema>;

export function machineOf(spec: ModuleSpec): MachineSpec {
  return { cpu: spec.machine.cpu, gpu: spec.machine.gpu, ram: spec.machine.ram, gpuMemory: spec.machine.gpuMemory };
}

export function engineOf(spec: ModuleSpec): Engine {
  return spec.job.Spec.Engine === 'Wasm' ? 'wasm' : 'docker';
}
