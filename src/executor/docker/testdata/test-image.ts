/**
 * Builds the Docker tests' image without a registry: a root filesystem of Debian's static busybox, the
 * executor probe (`wasm/testdata/probe.c` built natively with `gcc -static`) and a shell-script cowsay,
 * imported with the engine's `docker import`. Its image ID (`sha256:…`) is how the tests name it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';

import type Dockerode from 'dockerode';

import { packageRoot } from '../../../lib/package-root.js';

/** From the package root, so that the benchmark can build the image from dist/ too. */
const PROBE_SOURCE = join(packageRoot(), 'src', 'executor', 'wasm', 'testdata', 'probe.c');
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((path) => existsSync(path));
const APPLETS = ['sh', 'echo', 'cat', 'sleep', 'dd', 'yes', 'head', 'tr', 'true', 'ls', 'seq', 'printf', 'wc'];

/** The host's rootfs passwd differs from the image's, so a job that prints /etc/passwd shows which it saw. */
export const IMAGE_PASSWD = 'root:x:0:0:lilypad test image:/root:/bin/sh\n';

/** cowsay in busybox sh, for one-line messages: draws the same cow as modules/cowsay. */
const COWSAY = `#!/bin/sh
if [ $# -eq 0 ]; then echo "usage: cowsay MESSAGE" >&2; exit 2; fi
msg="$*"
top=""; bottom=""; i=0
while [ $i -lt $((\${#msg} + 2)) ]; do top="\${top}_"; bottom="\${bottom}-"; i=$((i + 1)); done
echo " $top"
echo "< $msg >"
echo " $bottom"
cat <<'COW'
        \\   ^__^
         \\  (oo)\\_______
            (__)\\       )\\/\\
                ||----w |
                ||     ||
COW
`;

/** Why the Docker tests cannot run here, or undefined when they can. */
export function missingTools(): string | undefined {
  if (!BUSYBOX) return 'no static busybox (apt-get install -y busybox-static)';
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'no gcc to build the probe (apt-get install -y gcc libc6-dev)';
  }
  return undefined;
}

export async function buildTestImage(docker: Dockerode, scratch: string, tag?: string): Promise<string> {
  if (!BUSYBOX) throw new Error('no static busybox');
  const root = join(scratch, 'rootfs');
  for (const dir of ['bin', 'etc', 'tmp', 'root', 'outputs', 'inputs']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  execFileSync('gcc', ['-static', '-O2', '-o', join(root, 'bin', 'probe'), PROBE_SOURCE]);
  writeFileSync(join(root, 'bin', 'cowsay'), COWSAY);
  chmodSync(join(root, 'bin', 'cowsay'), 0o755);
  writeFileSync(join(root, 'etc', 'passwd'), IMAGE_PASSWD);

  const tar = spawn('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-c', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const progress = await docker.importImage(tar.stdout, tag ? { repo: tag.split(':')[0], tag: tag.split(':')[1] ?? 'latest' } : {});
  let id: string | undefined;
  await new Promise<void>((done, fail) =>
    docker.modem.followProgress(
      progress,
      (error) => (error ? fail(error) : done()),
      (event: { status?: string }) => {
        if (event.status?.startsWith('sha256:')) id = event.status.trim();
      },
    ),
  );
  if (!id) throw new Error('docker import gave no image ID');
  return id;
}

/**
 * A local module folder in the seed's Docker shape (`Engine: Docker`, an entrypoint, the image by digest):
 * `/bin/cowsay {{ .Message }}` on the test image.
 */
export function writeCowsayModule(moduleDir: string, image: string, env?: string[]): string {
  mkdirSync(moduleDir, { recursive: true });
  const template = {
    machine: { gpu: 0, cpu: 1000, ram: 100 },
    job: {
      APIVersion: 'V1beta1',
      Metadata: { CreatedAt: '0001-01-01T00:00:00Z', Requester: {} },
      Spec: {
        Deal: { Concurrency: 1 },
        Docker: { Entrypoint: ['/bin/cowsay', 'MESSAGE'], Image: `lilypad/cowsay@${image}`, ...(env ? { EnvironmentVariables: env } : {}) },
        Engine: 'Docker',
        Network: { Type: 'None' },
        Timeout: 60,
      },
    },
  };
  // Inputs arrive JSON-encoded, so the placeholder stands unquoted in the JSON.
  const text = JSON.stringify(template, null, 2).replace('"MESSAGE"', '{{ .Message }}') + '\n';
  writeFileSync(join(moduleDir, 'lilypad_module.json.tmpl'), text);
  return text;
}
