/**
 * The Docker tests' engine: the one `DOCKER_HOST` names (CI starts a private dockerd), or the default socket.
 * When none answers, the tests skip and say why; `npm test` passes on a machine without Docker.
 */
import { execFileSync } from 'node:child_process';

import { dockerEngineConfigured } from '../available.js';
import { missingTools } from './test-image.js';

let cached: string | undefined | null = null;

/** Why the Docker tests cannot run here, or undefined when they can. Asked once per test file. */
export function dockerSkipReason(): string | undefined {
  if (cached !== null) return cached;
  cached = missingTools();
  if (!cached && !dockerEngineConfigured()) cached = 'no Docker engine: set DOCKER_HOST or start dockerd (see .ci/run)';
  if (!cached) {
    try {
      // The skip is decided while vitest collects tests, before any async hook: ask the engine synchronously.
      execFileSync(process.execPath, ['-e', PING], { stdio: 'ignore', timeout: 5_000 });
    } catch {
      cached = `no Docker engine answers at ${process.env.DOCKER_HOST ?? '/var/run/docker.sock'}`;
    }
  }
  if (cached) console.warn(`Docker executor tests skipped: ${cached}`);
  return cached;
}

const PING = `
const http = require('node:http');
const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
const options = host.startsWith('unix://') ? { socketPath: host.slice(7) } : { host: new URL(host.replace(/^tcp:/, 'http:')).hostname, port: new URL(host.replace(/^tcp:/, 'http:')).port };
http.get({ ...options, path: '/_ping', timeout: 3000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1));
`;
