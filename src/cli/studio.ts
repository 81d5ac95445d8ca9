/**
 * `lilypad studio`: serves the AI Studio (web app and API) until SIGINT or SIGTERM. Its operator commands
 * (`users add`, `keys create`, `credits grant`) write to the same database, also while the studio runs.
 */
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UserInputError } from '../lib/errors.js';
import { DEFAULT_PARALLEL_JOBS } from '../studio/jobs.js';
import { freeBetaPayments } from '../studio/payments.js';
import { generatedPassword, hashPassword, newApiKey } from '../studio/secrets.js';
import { startStudio } from '../studio/server.js';
import { DEFAULT_MAX_UPLOAD_BYTES } from '../studio/uploads.js';
import { openStudioStore, type StudioStore, type User } from '../studio/store.js';
import { stopSignal } from './signals.js';

const DATA_DIR_HELP = 'the studio\'s folder: its database and results (LILYPAD_STUDIO_DIR, default ~/.lilypad/studio)';

function dataDirOf(flag: string | undefined): string {
  return path.resolve(flag ?? (process.env.LILYPAD_STUDIO_DIR || path.join(os.homedir(), '.lilypad', 'studio')));
}

/**
 * `--data-dir` as given anywhere on the line: `lilypad studio` takes it too, and commander hands it to the
 * parent when the parent knows the option, so a subcommand reads it with the parent's.
 */
function dataDirFlag(command: Command): string | undefined {
  return (command.optsWithGlobals() as { dataDir?: string }).dataDir;
}

function withStore<T>(dataDir: string | undefined, use: (store: StudioStore) => T | Promise<T>): Promise<T> {
  const store = openStudioStore(dataDirOf(dataDir));
  return Promise.resolve(use(store)).finally(() => store.close());
}

function userNamed(store: StudioStore, email: string): User {
  const user = store.userByEmail(email);
  if (!user) throw new UserInputError(`no account for ${email}: add one with lilypad studio users add ${email}`, { code: 'account-not-found' });
  return user;
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new UserInputError(`--port ${value}: give a port number from 0 to 65535`, { code: 'input-malformed' });
  return parsed;
}

function parallelJobs(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 64) throw new UserInputError(`--parallel-jobs ${value}: give a whole number from 1 to 64`, { code: 'input-malformed' });
  return parsed;
}

function maxUploadBytes(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 4096) throw new UserInputError(`--max-upload-mb ${value}: give a number of MiB above 0 and at most 4096`, { code: 'input-malformed' });
  return Math.floor(parsed * 1024 * 1024);
}

export function registerStudioCommands(program: Command): void {
  const studio = program
    .command('studio')
    .description('serve Lilypad AI Studio: a web app and an API for running modules without a wallet')
    .option('--host <address>', 'the address to listen on', '127.0.0.1')
    .option('--port <port>', 'the port to listen on', '8787')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--parallel-jobs <count>', 'how many jobs run at once on the studio\'s account; the rest wait their turn', String(DEFAULT_PARALLEL_JOBS))
    .option('--max-upload-mb <MiB>', 'the most one upload may hold (files people put on the network from a form or POST /api/v1/uploads); other requests stay at 4 MiB', String(DEFAULT_MAX_UPLOAD_BYTES / 1024 / 1024))
    .option('--origin <url>', 'the address people open the studio at; passkeys and sign-in redirects belong to it (LILYPAD_STUDIO_ORIGIN, default http://localhost:<port>)')
    .option('--oidc-issuer <url>', 'sign in with an OpenID Connect provider: its issuer URL (LILYPAD_STUDIO_OIDC_ISSUER)')
    .option('--oidc-client-id <id>', 'the client id the provider issued to the studio (LILYPAD_STUDIO_OIDC_CLIENT_ID)')
    .option('--oidc-client-secret <secret>', 'its client secret; prefer LILYPAD_STUDIO_OIDC_CLIENT_SECRET, as flags show in the process list')
    .option('--oidc-name <name>', 'the provider\'s name on the button, such as GitHub (LILYPAD_STUDIO_OIDC_NAME)')
    .action(async (flags: { host: string; port: string; dataDir?: string; origin?: string; oidcIssuer?: string; oidcClientId?: string; oidcClientSecret?: string; oidcName?: string; parallelJobs: string; maxUploadMb: string }) => {
      const signal = stopSignal();
      // Flags win over the environment; the studio reads its settings from the result.
      const flagSettings = {
        LILYPAD_STUDIO_ORIGIN: flags.origin,
        LILYPAD_STUDIO_OIDC_ISSUER: flags.oidcIssuer,
        LILYPAD_STUDIO_OIDC_CLIENT_ID: flags.oidcClientId,
        LILYPAD_STUDIO_OIDC_CLIENT_SECRET: flags.oidcClientSecret,
        LILYPAD_STUDIO_OIDC_NAME: flags.oidcName,
      };
      const env = { ...process.env, ...Object.fromEntries(Object.entries(flagSettings).filter(([, value]) => value !== undefined)) };
      const running = await startStudio({
        dataDir: dataDirOf(flags.dataDir),
        host: flags.host,
        port: port(flags.port),
        parallelJobs: parallelJobs(flags.parallelJobs),
        maxUploadBytes: maxUploadBytes(flags.maxUploadMb),
        env,
        onNetwork: (outcome) => {
          if ('identity' in outcome) process.stdout.write(`Job network ready: ${outcome.identity}\n`);
          else process.stderr.write(`The job network did not start, so jobs will fail: ${(outcome.error as Error)?.message ?? String(outcome.error)}\n`);
        },
      });
      process.stdout.write(`Lilypad AI Studio at ${running.url} (open ${running.origin} in a browser; data in ${dataDirOf(flags.dataDir)}); stop it with Ctrl-C\n`);
      await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
      await running.stop();
    });

  const users = studio.command('users').description('the studio\'s accounts');
  users
    .command('add')
    .description('add an account with a generated password, printed once, and the sign-up credits')
    .argument('<email>')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (email: string, _flags: unknown, command: Command) => {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) throw new UserInputError(`${email} is not an email address`, { code: 'input-malformed' });
      const password = generatedPassword();
      const hash = await hashPassword(password);
      const payments = freeBetaPayments();
      const user = await withStore(dataDirFlag(command), (store) => store.createUser(email, hash, payments.signupCredits, 'welcome credits (free beta)'));
      process.stdout.write(`Added ${user.email} with ${user.credits} credits. Password (shown once): ${password}\n`);
    });

  const keys = studio.command('keys').description('API keys');
  keys
    .command('create')
    .description('create an API key for an account and print it (shown once), with an optional daily spending cap')
    .argument('<email>')
    .option('--name <name>', 'what the key is for', 'API key')
    .option('--daily-cap <credits>', 'the most credits jobs started with this key may cost per UTC day (default: no cap)')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (email: string, flags: { name: string; dailyCap?: string }, command: Command) => {
      const dailyCap = flags.dailyCap === undefined ? undefined : Number(flags.dailyCap);
      if (dailyCap !== undefined && (!Number.isInteger(dailyCap) || dailyCap <= 0)) {
        throw new UserInputError(`--daily-cap ${flags.dailyCap}: give a whole number of credits above 0, or leave it out for no cap`, { code: 'input-malformed' });
      }
      const key = newApiKey();
      await withStore(dataDirFlag(command), (store) => {
        const user = userNamed(store, email);
        store.addApiKey({ id: key.id, userId: user.id, name: flags.name, keyHash: key.hash, prefix: key.prefix, ...(dailyCap !== undefined ? { dailyCap } : {}) });
      });
      process.stdout.write(`${key.key}\n`);
      const cap = dailyCap === undefined ? 'no daily cap' : `a daily cap of ${dailyCap} credits (UTC days)`;
      process.stderr.write(`API key "${flags.name}" for ${email} (${key.id}), ${cap}; it is shown only now.\n`);
    });

  const credits = studio.command('credits').description('credits of accounts');
  credits
    .command('grant')
    .description('give an account credits')
    .argument('<email>')
    .argument('<credits>', 'a whole number of credits')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (email: string, amount: string, _flags: unknown, command: Command) => {
      const count = Number(amount);
      if (!Number.isInteger(count) || count <= 0) throw new UserInputError(`${amount}: give a whole number of credits above 0`, { code: 'input-malformed' });
      const balance = await withStore(dataDirFlag(command), (store) => {
        const user = userNamed(store, email);
        store.grantCredits(user.id, count, 'granted by the operator');
        return store.user(user.id)!.credits;
      });
      process.stdout.write(`Granted ${count} credits to ${email}; balance ${balance}\n`);
    });
}
