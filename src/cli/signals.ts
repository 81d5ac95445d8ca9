/**
 * SIGINT and SIGTERM for every command. A command that can stop cleanly takes `stopSignal()` and, when it is
 * aborted, stops what it started and returns; a command that did not take it is ended at once (it started
 * nothing that needs stopping: anvil dies with this process in any case). Either way the process exits
 * with the conventional status (128 + the signal's number) and one line on stderr. A second signal, or a
 * clean stop that takes longer than STOP_GRACE_MS, ends the process at once.
 */
import { stepsStillStopping } from '../lib/stop-steps.js';

const exitCodes = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignalName = keyof typeof exitCodes;

const STOP_GRACE_MS = 20_000;
const controller = new AbortController();
let received: StopSignalName | undefined;
let claimed = false;

function exitNow(name: StopSignalName, why: string): never {
  process.stderr.write(`lilypad: stopped by ${name}${why}\n`);
  process.exit(exitCodes[name]);
}

/** Installs the handlers; call once, before any command runs. */
export function handleStopSignals(): void {
  for (const name of Object.keys(exitCodes) as StopSignalName[]) {
    process.on(name, () => {
      if (received) exitNow(received, ` (then ${name}: stopped at once)`);
      if (!claimed) exitNow(name, '');
      received = name;
      controller.abort(new Error(`stopped by ${name}`));
      setTimeout(() => {
        const waiting = stepsStillStopping();
        exitNow(name, ` (not stopped cleanly within ${STOP_GRACE_MS / 1000} s${waiting.length ? `, still waiting on ${waiting.join(', ')}` : ''}: stopped at once)`);
      }, STOP_GRACE_MS).unref();
    });
  }
}

/** The signal of a command that stops cleanly: aborted on the first SIGINT or SIGTERM. */
export function stopSignal(): AbortSignal {
  claimed = true;
  return controller.signal;
}

/** After the command: the line to print and the status to exit with, if a signal stopped it. */
export function stoppedBySignal(): { message: string; exitCode: number } | undefined {
  return received ? { message: `lilypad: stopped by ${received}`, exitCode: exitCodes[received] } : undefined;
}
