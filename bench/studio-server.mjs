// A studio on the embedded network for bench/studio.bench.mjs, in a process of its own so that the load
// generator does not share its event loop. Prints one JSON line: the URL, an API key and the data folder.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newApiKey } from '../dist/studio/secrets.js';
import { startStudio } from '../dist/studio/server.js';
import { openStudioStore } from '../dist/studio/store.js';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-studio-'));
const env = { ...process.env };
for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS', 'LILYPAD_NETWORK']) delete env[name];
// The per-key rate limit would answer most of the load with 429s: the bench measures the studio, not the limit.
const studio = await startStudio({ dataDir, port: 0, env, rateLimit: { burst: 1e9, perSecond: 1e9 } });
await studio.network;

const store = openStudioStore(dataDir);
const user = store.createUser('bench@example.com', 'no-password', 0, 'bench');
store.grantCredits(user.id, 100_000, 'bench');
const key = newApiKey();
store.addApiKey({ id: key.id, userId: user.id, name: 'bench', keyHash: key.hash, prefix: key.prefix });
store.close();

// The baseline: the same job through the job network alone (the SDK), timed here, asked for over IPC.
const network = await studio.network;
process.on('message', async (message) => {
  const started = performance.now();
  const result = await network.run({ module: message.module, inputs: message.inputs, maxPrice: 10n ** 19n });
  process.send({ ms: performance.now() - started, cid: result.cid, exitCode: result.exitCode, error: result.error });
});
process.on('SIGTERM', () => void studio.stop().then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ url: studio.url, key: key.key, dataDir }) + '\n');
