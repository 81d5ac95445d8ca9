/** From a rendered module to the job an executor runs. */
import type { ExecutorJob } from '../executor/types.js';
import { ModuleError } from '../lib/errors.js';
import { loadModuleFileByCid, type ResolvedModule } from './resolve.js';
import type { ModuleSpec } from './spec.js';

export async function executorJobOf(module: ResolvedModule, spec: ModuleSpec): Promise<ExecutorJob> {
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
