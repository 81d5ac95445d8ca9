/**
 * The seed's Docker cowsay, end to end: a local module in the seed's shape (`Engine: Docker`, an
 * entrypoint, an image by digest) run by the real CLI on the embedded network, whose provider offers Docker
 * because an engine answers. The image is built here (no registry is reachable); skipped without an engine.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDocker } from '../src/executor/docker/index.js';
import { dockerSkipReason } from '../src/executor/docker/testdata/engine.js';
import { buildTestImage } from '../src/executor/docker/testdata/test-image.js';
import { processesWithMarker, runCli } from './helpers.js';

const skip = dockerSkipReason();

describe.skipIf(Boolean(skip))(`lilypad run ./cowsay-docker -i Message=moo${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let scratch: string;
  let image: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'lilypad-e2e-docker-'));
    image = await buildTestImage(connectDocker(), scratch);
  });
  afterAll(async () => {
    await connectDocker().getImage(image).remove().catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  });

  it('runs the module on the Docker executor and gives the same CID twice', async () => {
    const moduleDir = path.join(scratch, 'cowsay-docker');
    await rm(moduleDir, { recursive: true, force: true });
    await mkdir(moduleDir);
    const template = `{
  "machine": { "gpu": 0, "cpu": 1000, "ram": 100 },
  "job": {
    "APIVersion": "V1beta1",
    "Metadata": { "CreatedAt": "0001-01-01T00:00:00Z", "Requester": {} },
    "Spec": {
      "Deal": { "Concurrency": 1 },
      "Docker": {
        "Entrypoint": ["/bin/cowsay", {{ .Message }}],
        "Image": "lilypad/cowsay@${image}"
      },
      "Engine": "Docker",
      "Network": { "Type": "None" },
      "Timeout": 60
    }
  }
}
`;
    await writeFile(path.join(moduleDir, 'lilypad_module.json.tmpl'), template);
    const outputDir = path.join(scratch, 'results');
    const first = await runCli(['run', moduleDir, '-i', 'Message=moo', '--json', '--output-dir', outputDir]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const { cid } = JSON.parse(first.stdout) as { cid: string };
    expect(await readFile(path.join(outputDir, cid, 'stdout'), 'utf8')).toContain('< moo >');
    expect(await readFile(path.join(outputDir, cid, 'exitCode'), 'utf8')).toBe('0');
    const second = await runCli(['run', moduleDir, '-i', 'Message=moo', '--json', '--output-dir', outputDir]);
    expect((JSON.parse(second.stdout) as { cid: string }).cid).toBe(cid);
    expect(processesWithMarker(first.marker)).toEqual([]);
    const leftovers = await connectDocker().listContainers({ all: true, filters: { label: ['tech.lilypad.owner'] } });
    expect(leftovers.filter((container) => container.Labels['tech.lilypad.owner']?.startsWith('lilypad-embedded-'))).toEqual([]);
  });
});
