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
  machine: { cpu: true, gpu: true, ram: true, vram: true },
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

/**
 * The section of the engine the job does not use is dropped unread, as Bacalhau ignores it: the original
 * Docker modules carry an empty `"Wasm": {"EntryModule": {}}`.
 */
function onlyTheEngineSection(spec: unknown): unknown {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return spec;
  const { Engine, Wasm, Docker, ...rest } = spec as Record<string, unknown>;
  if (Engine === 'Docker') return { Engine, Docker, ...rest };
  if (Engine === 'Wasm') return { Engine, Wasm, ...rest };
  return spec;
}

/** Bacalhau's `Resources.GPU`: a count of whole GPUs, as a string ("1"). */
const gpuCount = z.string().trim().regex(/^\d+$/, 'Resources.GPU is a whole number of GPUs, such as "1"').transform(Number);

export const moduleSpecSchema = z.object({
  machine: z.object({
    /** milli-CPU */
    cpu: z.number().nonnegative(),
    /** milli-GPU; a job gets whole GPUs, so any part of one (the original modules write 1) asks for a card */
    gpu: z.number().nonnegative().default(0),
    /** MB */
    ram: z.number().nonnegative(),
    /** MB of memory on each of the job's GPUs (see MachineSpec.gpuMemory) */
    vram: z.number().nonnegative().optional(),
  }),
  job: z.object({
    APIVersion: z.literal('V1beta1'),
    Spec: z.preprocess(onlyTheEngineSection, z
      .object({
        Engine: z.enum(['Wasm', 'Docker'], { message: 'Engine must be "Wasm" or "Docker"' }),
        Wasm: wasmSchema.optional(),
        Docker: dockerSchema.optional(),
        Inputs: z.array(storageSchema).default([]),
        Outputs: z.array(storageSchema).default([]),
        Resources: z.object({ CPU: z.string().optional(), Memory: z.string().optional(), Disk: z.string().optional(), GPU: gpuCount.optional() }).optional(),
        Network: z.object({ Type: z.string().default('None'), Domains: z.array(z.string()).optional() }).optional(),
        Timeout: z.number().positive().optional(),
      })
      .passthrough()
      .superRefine((spec, ctx) => {
        if (spec.Engine === 'Wasm' && !spec.Wasm) ctx.addIssue({ code: 'custom', path: ['Wasm'], message: 'Engine is Wasm but there is no Wasm section' });
        if (spec.Engine === 'Docker' && !spec.Docker) ctx.addIssue({ code: 'custom', path: ['Docker'], message: 'Engine is Docker but there is no Docker section' });
      })),
  }).passthrough(),
}).superRefine((module, ctx) => {
  const gpus = gpusOf(module);
  // Refused here, where every party renders the module, so that nobody signs a job that no provider can run.
  if (gpus > 0 && module.job.Spec.Engine === 'Wasm') {
    ctx.addIssue({ code: 'custom', path: ['machine', 'gpu'], message: 'the Wasm engine has no GPUs; a module that needs one runs on Docker' });
  }
  if (gpus === 0 && (module.machine.vram ?? 0) > 0) {
    ctx.addIssue({ code: 'custom', path: ['machine', 'vram'], message: 'vram is GPU memory, but the module asks for no GPU (set machine.gpu)' });
  }
});

export type ModuleSpec = z.infer<typeof moduleSpecSchema>;
export type WasmSpec = z.infer<typeof wasmSchema>;
export type DockerSpec = z.infer<typeof dockerSchema>;

/**
 * The whole GPUs a job gets: `machine.gpu` (milli-GPU) rounded up to cards, or `Spec.Resources.GPU` (cards)
 * where that says more. The original modules write both (`"gpu": 1` and `"GPU": "1"`); when they disagree
 * the larger wins rather than the module being refused, because a job matched on the smaller would be
 * given fewer GPUs than one of its own lines asks for, while the larger is never less than it needs.
 */
export function gpusOf(spec: Pick<ModuleSpec, 'machine'> & { job: { Spec: { Resources?: { GPU?: number } } } }): number {
  return Math.max(Math.ceil(spec.machine.gpu / 1000), spec.job.Spec.Resources?.GPU ?? 0);
}

/** What the job needs of a machine, as job offers say it and matching compares it: GPUs as the cards it gets. */
export function machineOf(spec: ModuleSpec): MachineSpec {
  const gpus = gpusOf(spec);
  return {
    cpu: spec.machine.cpu,
    gpu: gpus * 1000,
    ram: spec.machine.ram,
    ...(gpus > 0 && spec.machine.vram ? { gpuMemory: spec.machine.vram } : {}),
  };
}

export function engineOf(spec: ModuleSpec): Engine {
  return spec.job.Spec.Engine === 'Wasm' ? 'wasm' : 'docker';
}
