/**
 * The `lilypad` command. User errors are one line on stderr and a non-zero exit code; anything else is
 * a bug and shows its stack.
 */
import { Command } from 'commander';
import { isUserFacing } from '../lib/errors.js';
import { applyNetworkPreset } from '../lib/network-presets.js';
import { configureChainClients } from './chain-settings.js';
import { registerChallengeCommand } from './challenge.js';
import { registerAddCommand } from './data.js';
import { checkLine, completionLines, progressLine } from '../job-creator/progress-text.js';
import { dealTimeouts, detachCommand, registerJobCommands, type RunFlags } from './jobs.js';
import { registerModuleCommands } from './module.js';
import { registerPipelineCommands } from './pipeline.js';
import { runCommand } from './run.js';
import { registerServiceCommands } from './services.js';
import { handleStopSignals, stopSignal, stoppedBySignal } from './signals.js';
import { registerStackCommands } from './stack.js';
import { registerStudioCommands } from './studio.js';

// A reader that has seen enough (`lilypad jobs | head -2`) closes the pipe: stop quietly with 0, as Unix
// tools do. What this process started is stopped by its exit handlers (anvil's among them).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}
handleStopSignals();
configureChainClients(process.env);

const program = new Command();
program
  .name('lilypad')
  .description('A peer-to-peer compute marketplace for AI')
  .option('--network <name>', 'use a network preset (LILYPAD_NETWORK): its RPC URL, contracts, solver and mediators; you set WEB3_PRIVATE_KEY')
  .showHelpAfterError()
  .hook('preAction', () => {
    const network = (program.opts() as { network?: string }).network ?? process.env.LILYPAD_NETWORK;
    if (network) applyNetworkPreset(process.env, network);
  });

program
  .command('run')
  .description('run a module: lilypad run cowsay:v0.0.1 -i Message=moo')
  .argument('<module>', 'NAME:TAG, host/owner/repo:TAG or ./folder')
  .option('-i, --input <KEY=VALUE>', 'an input for the module\'s template (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
  .option('--max-price <LP>', 'the most this job may cost, in LP', '10')
  .option('--output-dir <dir>', 'where result folders are written (default: <tmp>/lilypad/data/downloaded-files)')
  .option('--json', 'print one JSON object instead of progress lines')
  .option('--verify', 're-run the job here and challenge the result if it differs')
  .option('--audit', 'audit a share of jobs (re-run here, challenge a difference), at the rate that makes cheating lose money')
  .option('--detach', 'post the job, record it and print its id; `lilypad get ID` fetches it later')
  .option('--submit-timeout <seconds>', 'how long the provider has to submit results')
  .option('--judge-window <seconds>', 'how long you have to judge results before they count as accepted')
  .option('--min-collateral <LP>', 'the least collateral a provider must lock for the job (default 0: its own terms)')
  .option('--live', "print the job's stdout to stderr as it runs (a preview; the checked result follows as usual)")
  .action(async (module: string, flags: RunFlags & { input: string[]; maxPrice: string; outputDir?: string; json?: boolean; verify?: boolean; audit?: boolean; live?: boolean }) => {
    if (flags.detach) return await detachCommand(module, flags);
    const signal = stopSignal();
    // Live output goes to stderr, so that stdout stays the checked result; a line of progress starts on a line of its own.
    let liveLineOpen = false;
    const say = (line: string) => {
      // With --json no line is printed, so the live text is left whole.
      if (flags.json) return;
      if (liveLineOpen) process.stderr.write('\n');
      liveLineOpen = false;
      process.stdout.write(line + '\n');
    };
    const showLive = (text: string) => {
      process.stderr.write(text);
      liveLineOpen = !text.endsWith('\n');
    };
    const result = await runCommand({
      module,
      inputs: flags.input,
      maxPrice: flags.maxPrice,
      outputDir: flags.outputDir,
      env: process.env,
      signal,
      onProgress: (event) => {
        if (event.type === 'job:output') {
          if (flags.live) showLive(event.text);
          return;
        }
        const line = progressLine(event);
        if (line) say(line);
      },
      verify: flags.verify,
      audit: flags.audit,
      onCheck: (event) => say(checkLine(event)),
      ...dealTimeouts(flags),
    });
    if (flags.json) {
      process.stdout.write(
        JSON.stringify({
          module,
          dealId: result.dealId,
          cid: result.cid,
          dir: result.dir,
          exitCode: result.exitCode,
          ...(result.error ? { error: result.error } : {}),
          stdout: result.stdout,
          resourceProvider: result.resourceProvider,
          price: result.price.toString(),
          state: result.state,
        }) + '\n',
      );
    } else {
      for (const line of completionLines(result)) say(line);
      say('');
      process.stdout.write(result.stdout);
    }
    // A job that failed is not a success, whoever is reading the exit status.
    if (result.error || result.exitCode > 0) process.exitCode = 1;
  });

registerAddCommand(program);
registerChallengeCommand(program);
registerJobCommands(program);
registerPipelineCommands(program);
registerServiceCommands(program);
registerStackCommands(program);
registerStudioCommands(program);

registerModuleCommands(program);

try {
  await program.parseAsync(process.argv);
  const stopped = stoppedBySignal();
  if (stopped) {
    process.stderr.write(`${stopped.message}\n`);
    process.exitCode = stopped.exitCode;
  }
} catch (error) {
  const stopped = stoppedBySignal();
  if (stopped) {
    // What failed after a stop signal failed because of it (an aborted wait, a closed network).
    process.stderr.write(`${stopped.message}\n`);
    process.exitCode = stopped.exitCode;
  } else if (isUserFacing(error)) {
    // A failure that may pass on its own (a service not answering yet) says so: the user's next step is to try again.
    process.stderr.write(`Error: ${error.message}${error.retryable ? ' (this may be temporary: trying again may work)' : ''}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`lilypad: unexpected error (a bug; please report it):\n${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 70;
  }
}
// The command is done: leave now rather than wait for a straggling handle (a worker thread, a
// keep-alive socket) to let go. Anything we started has been stopped by then; flush output first.
await new Promise<void>((resolve) => process.stdout.write('', () => process.stderr.write('', () => resolve())));
process.exit();
