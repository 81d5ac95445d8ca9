/** From a rendered module to the job an executor runs. */
import { z } from 'zod';
import type { DockerJob, ExecutorJob } from '../executor/types.js';
import { ModuleError } from '../lib/errors.js';
import { loadModuleFileByCid, type ResolvedModule } from './resolve.js';
import type { ModuleSpec } from './spec.js';

export async function executorJobOf(module: ResolvedModule, spec: ModuleSpec): Promise<ExecutorJob> {
  if (spec.job.Spec.Engine === 'Docker') return dockerJobOf(module, spec);
  const wasm = spec.job.Spec.Wasm;
  if (spec.job.Spec.Engine !== 'Wasm' || !wasm) {
    throw new ModuleError(`module ${module.name} uses the ${spec.job.Spec.Engine} engine, which this build cannot run yet`, {
      code: 'engine-unsupported',
    });
  }
  return {
    engine: 'wasm',
    module: await loadModuleFileByCid(module, wasm.EntryModule.CID),
    entryPoint: wasm.EntryPoint,
    args: wasm.Parameters,
    env: wasm.EnvironmentVariables,
  };
}

/** Bacalhau's V1beta1 `Spec.Docker`; environment variables as `NAME=value` strings (Bacalhau) or an object. */
const dockerSpecSchema = z.object({
  Image: z.string().min(1),
  Entrypoint: z.array(z.string()).optional(),
  Parameters: z.array(z.string()).optional(),
  EnvironmentVariables: z.union([z.array(z.string()), z.record(z.string(), z.string())]).optional(),
  WorkingDirectory: z.string().optional(),
});

const MB = 1024 * 1024;

/** The image, command and environment from `Spec.Docker`; the network from `Spec.Network`; resources from `machine`. */
function dockerJobOf(module: ResolvedModule, spec: ModuleSpec): DockerJob {
  const parsed = dockerSpecSchema.safeParse((spec.job.Spec as Record<string, unknown>).Docker);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModuleError(
      `module ${module.name} has an invalid Docker spec at Docker.${issue?.path.join('.') || ''}: ${issue?.message}`,
      { code: 'template-invalid-spec' },
    );
  }
  const docker = parsed.data;
  const env: Record<string, string> = {};
  if (Array.isArray(docker.EnvironmentVariables)) {
    for (const entry of docker.EnvironmentVariables) {
      const at = entry.indexOf('=');
      if (at <= 0) throw new ModuleError(`module ${module.name}: environment variable ${JSON.stringify(entry)} is not NAME=value`, { code: 'template-invalid-spec' });
      env[entry.slice(0, at)] = entry.slice(at + 1);
    }
  } else Object.assign(env, docker.EnvironmentVariables ?? {});
  const networkType = ((spec.job.Spec as Record<string, unknown>).Network as { Type?: unknown } | undefined)?.Type;
  return {
    engine: 'docker',
    image: docker.Image,
    entrypoint: docker.Entrypoint,
    args: docker.Parameters,
    env,
    workingDir: docker.WorkingDirectory || undefined,
    network: typeof networkType === 'string' && networkType.toLowerCase() !== 'none',
    resources: {
      cpu: spec.machine.cpu || undefined,
      memoryBytes: spec.machine.ram ? spec.machine.ram * MB : undefined,
      gpus: spec.machine.gpu ? Math.ceil(spec.machine.gpu / 1000) : undefined,
    },
  };
}
