/** `lilypad stack up|down|status|env`: a local network of separate processes (src/network/stack.ts). */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UserInputError } from '../lib/errors.js';
import { writeNetworkPreset } from '../lib/network-presets.js';
import { packageRoot } from '../lib/package-root.js';
import { readStack, serviceHealth, stackDown, stackEnv, stackRestart, stackUp } from '../network/stack.js';
import { stopSignal } from './signals.js';

const defaultDir = () => path.join(os.homedir(), '.lilypad', 'stack');

/** The project's settings in the environment of `stack up` (and the Docker engine's address), kept for restarts. */
function serviceSettingsOf(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => (entry[0].startsWith('LILYPAD_') || entry[0] === 'DOCKER_HOST') && entry[1] !== undefined),
  );
}

function exportLines(env: Record<string, string>): string {
  return Object.entries(env).map(([name, value]) => `export ${name}=${value}\n`).join('');
}

export function registerStackCommands(program: Command): void {
  const stack = program.command('stack').description('a local network of separate processes: chain, solver, mediator, resource providers');

  stack
    .command('up')
    .description('start the stack and print the environment for `lilypad run` (eval "$(lilypad stack up)")')
    .option('--dir <dir>', 'where the stack keeps its state and logs', defaultDir())
    .option('--providers <n>', 'how many resource providers', '1')
    .action(async (flags: { dir: string; providers: string }) => {
      const state = await stackUp({
        dir: path.resolve(flags.dir),
        providers: Number(flags.providers),
        cliPath: path.join(packageRoot(), 'bin', 'lilypad.js'),
        onProgress: (line) => process.stderr.write(`${line}\n`),
        signal: stopSignal(),
        serviceSettings: serviceSettingsOf(process.env),
      });
      const env = stackEnv(state);
      // So that `lilypad --network stack run ...` finds it, with only WEB3_PRIVATE_KEY to set.
      const preset = writeNetworkPreset('stack', env, process.env);
      process.stderr.write(`network preset stack written to ${preset}\n`);
      process.stdout.write(exportLines(env));
    });

  stack
    .command('down')
    .description('stop every process of the stack (the chain keeps its state)')
    .option('--dir <dir>', 'the stack folder', defaultDir())
    .action(async (flags: { dir: string }) => {
      const stopped = await stackDown(path.resolve(flags.dir));
      process.stdout.write(stopped.length ? `stopped ${stopped.map((p) => p.name).join(', ')}\n` : 'nothing was running\n');
    });

  stack
    .command('restart')
    .description('start one service again as it was started, stopping it first if it runs (e.g. resource-provider-1)')
    .argument('<name>', 'the service, as `lilypad stack status` names it')
    .option('--dir <dir>', 'the stack folder', defaultDir())
    .action(async (name: string, flags: { dir: string }) => {
      const started = await stackRestart(path.resolve(flags.dir), name, path.join(packageRoot(), 'bin', 'lilypad.js'));
      process.stdout.write(`restarted ${started.name} (pid ${started.pid})\n`);
    });

  stack
    .command('status')
    .description('show what runs where: running (the process lives and, for the chain and the solver, answers), not answering, or stopped')
    .option('--dir <dir>', 'the stack folder', defaultDir())
    .option('--json', 'print JSON')
    .action(async (flags: { dir: string; json?: boolean }) => {
      const state = await readStack(path.resolve(flags.dir));
      const processes = await Promise.all(
        (state?.processes ?? []).map(async (p) => {
          const health = await serviceHealth(state!, p);
          return { ...p, state: health, running: health === 'running' };
        }),
      );
      if (flags.json) {
        process.stdout.write(JSON.stringify({ solverUrl: state?.solverUrl, rpcUrl: state?.rpcUrl, processes }) + '\n');
        return;
      }
      if (processes.length === 0) {
        process.stdout.write('the stack is not running\n');
        return;
      }
      for (const p of processes) process.stdout.write(`${p.name.padEnd(22)} ${p.state.padEnd(13)} pid ${p.pid}${p.anvilPid ? ` (anvil ${p.anvilPid})` : ''}  log ${p.log}\n`);
    });

  stack
    .command('env')
    .description('print the environment that `lilypad run` needs to use the stack')
    .option('--dir <dir>', 'the stack folder', defaultDir())
    .option('--json', 'print JSON')
    .action(async (flags: { dir: string; json?: boolean }) => {
      const state = await readStack(path.resolve(flags.dir));
      if (!state?.solverUrl) throw new UserInputError(`no stack in ${path.resolve(flags.dir)}; start one with \`lilypad stack up\``, { code: 'stack-missing' });
      const env = stackEnv(state);
      process.stdout.write(flags.json ? JSON.stringify(env) + '\n' : exportLines(env));
    });
}
