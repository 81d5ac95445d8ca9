/**
 * The rendered module: `machine` (what the job needs) and `job` in the Bacalhau V1beta1 shape that
 * Lilypad modules use. Keys match case-insensitively and unknown keys are ignored, as Go's
 * encoding/json does, so that the original modules' templates load unchanged.
 */
import { z } from 'zod';
import type { Engine, MachineSpec } from '../protocol/machine.js';

/** Known keys, each with the shape of its value; `'*'` means any key (maps). */
type Shape = { [key: string]: Shape | true } | { '*': Shape | true } | { '[]': Shape | true };

const storageSpec: Shape = {
  StorageSource: true, Name: true, CID: true, Path: true, URL: true, Repo: true, S3: true, SourcePath: true, ReadWrite: true,
};
const SHAPE: Shape = {
  machine: { cpu: true, gpu: true, ram: true, gpuMemory: true },
  job: {
    APIVersion: true,
    Metadata: true,
    Spec: {
      Engine: true,
      Docker: { Image: true, Entrypoint: true, Parameters: true, EnvironmentVariables: true, WorkingDirectory: true },
      Wasm: {
        EntryModule: storageSpec,
        EntryPoint: true,
        Parameters: true,
        EnvironmentVariables: true,
        ImportModules: { '[]': storageSpec },
      },
      Inputs: { '[]': storageSpec },
      Outputs: { '[]': storageSpec },
      Resources: { CPU: true, Memory: true, Disk: true, GPU: true },
      Network: { Type: true, Domains: true },
      Timeout: true,
      Deal: true,
      PublisherSpec: true,
      Publisher: true,
      Annotations: true,
    },
  },
};

/** Renames keys to their canonical spelling (case-insensitively) and drops unknown ones. */
export function canonicalKeys(value: unknown, shape: Shape | true = SHAPE): unknown {
  if (shape === true || value === null || typeof value !== 'object') return value;
  if ('[]' in shape) return Array.isArray(value) ? value.map((v) => canonicalKeys(v, (shape as { '[]': Shape | true })['[]'])) : value;
  if (Array.isArray(value)) return value;
  const known = Object.keys(shape);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // Go prefers an exact match, then a case-insensitive one.
    const name = known.includes(key) ? key : known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (name === undefined) continue;
    out[name] = canonicalKeys(v, (shape as Record<string, Shape | true>)[name]!);
  }
  return out;
}

/**
 * `EnvironmentVariables` of either engine: an object, or Bacalhau's `NAME=value` strings. Not job inputs
 * (`protocol/inputs.ts`): the module author writes them, for a process rather than a template, so a name
 * is anything before the first `=` (as Docker takes it) and a later entry replaces an earlier one.
 */
const envSchema = z
  .union([z.record(z.string(), z.string()), z.array(z.string().regex(/^[^=]+=/, 'an environment variable is NAME=value'))])
  .default({})
  .transform((env) => {
    if (!Array.isArray(env)) return env;
    return Object.fromEntries(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  });

const storageSchema = z.object({
  StorageSource: z.string().optional(),
  Name: z.string().optional(),
  CID: z.string().optional(),
  Path: z.string().optional(),
  URL: z.string().optional(),
});

const wasmSchema = z.object({
  EntryModule: z.object({ CID: z.string().min(1, 'EntryModule.CID must name the module file by CID'), StorageSource: z.string().optional() }),
  EntryPoint: z.string().default('_start'),
  Parameters: z.array(z.string()).default([]),
  EnvironmentVariables: envSchema,
});

const dockerSchema = z.object({
  Image: z.string().min(1),
  Entrypoint: z.array(z.string()).default([]),
  Parameters: z.array(z.string()).default([]),
  EnvironmentVariables: envSchema,
  WorkingDirectory: z.string().optional(),
});

export const moduleSpecSchema = z.object({
  machine: z.object({
    /** milli-CPU */
    cpu: z.number().nonnegative(),
    /** milli-GPU */
    gpu: z.number().nonnegative().default(0),
    /** MB */
    ram: z.number().nonnegative(),
    gpuMemory: z.number().nonnegative().optional(),
  }),
  job: z.object({
    APIVersion: z.literal('V1beta1'),
    Spec: z
      .object({
        Engine: z.enum(['Wasm', 'Docker'], { message: 'Engine must be "Wasm" or "Docker"' }),
        Wasm: wasmSchema.optional(),
        Docker: dockerSchema.optional(),
        Inputs: z.array(storageSchema).default([]),
        Outputs: z.array(storageSchema).default([]),
        Resources: z.object({ CPU: z.string().optional(), Memory: z.string().optional(), Disk: z.string().optional(), GPU: z.string().optional() }).optional(),
        Network: z.object({ Type: z.string().default('None'), Domains: z.array(z.string()).optional() }).optional(),
        Timeout: z.number().positive().optional(),
      })
      .passthrough()
      .superRefine((spec, ctx) => {
        if (spec.Engine === 'Wasm' && !spec.Wasm) ctx.addIssue({ code: 'custom', path: ['Wasm'], message: 'Engine is Wasm but there is no Wasm section' });
        if (spec.Engine === 'Docker' && !spec.Docker) ctx.addIssue({ code: 'custom', path: ['Docker'], message: 'Engine is Docker but there is no Docker section' });
      }),
  }).passthrough(),
});

export type ModuleSpec = z.infer<typeof moduleSpecSchema>;
export type WasmSpec = z.infer<typeof wasmSchema>;
export type DockerSpec = z.infer<typeof dockerSchema>;

export function machineOf(spec: ModuleSpec): MachineSpec {
  return { cpu: spec.machine.cpu, gpu: spec.machine.gpu, ram: spec.machine.ram, gpuMemory: spec.machine.gpuMemory };
}

export function engineOf(spec: ModuleSpec): Engine {
  return spec.job.Spec.Engine === 'Wasm' ? 'wasm' : 'docker';
}
