/**
 * `lilypad module init|info|render|test`: the commands for module authors. `init` writes a working
 * WebAssembly module (a prebuilt .wasm named by CID in the template, its C source, a module.json declaring
 * its input and a build script); `info` shows a module's description and declared inputs; `render` prints
 * the job spec a module renders to; `test` runs the module twice here, as a provider runs
 * it (inputs by CID included), and compares the result CIDs, which is what a mediator would do.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createWasmExecutor } from '../executor/wasm/index.js';
import { UserInputError } from '../lib/errors.js';
import { localSource } from '../module/builtin-data.js';
import { executionLimitsOf, jobSeedOf } from '../module/executor-job.js';
import { prepareModuleJob, runPreparedJob } from '../module/prepare-job.js';
import { inputsHashOf, moduleIdOf } from '../protocol/ids.js';
import { templateInputNames, typedDefault, type InputDeclaration } from '../module/inputs.js';
import { MANIFEST_FILE } from '../module/manifest.js';
import { renderJob, TEMPLATE_FILE } from '../module/render.js';
import { createModuleResolver, defaultBuiltinDir } from '../module/resolve.js';
import { cidOfBytes, cidOfDirectory, closeBlockstore, openBlockstore } from '../storage/index.js';
import { blocksDir } from '../lib/config.js';
import { addLocalInputs, findLocalInputs } from './data.js';
import { parseInputs } from '../protocol/inputs.js';

const collect = (value: string, all: string[]) => [...all, value];

export interface ModuleTestResult {
  module: string;
  deterministic: boolean;
  cids: [string, string];
  exitCodes: [number, number];
  warnings: string[];
}

export async function moduleRender(module: string, inputs: string[] | Record<string, string>) {
  const resolved = await createModuleResolver({ env: process.env }).resolve(module);
  return { resolved, ...renderJob(resolved, Array.isArray(inputs) ? parseInputs(inputs, { flag: '-i' }) : inputs) };
}

export interface ModuleInfo {
  module: string;
  repository: string;
  commit: string;
  description: string;
  /** Declared in module.json; null for an untyped module. */
  inputs: InputDeclaration[] | null;
  /** For an untyped module, the names its template reads. */
  templateReads?: string[];
}

/** What `lilypad module info` shows: the module's description and its declared inputs. */
export async function moduleInfo(module: string): Promise<ModuleInfo> {
  const resolved = await createModuleResolver({ env: process.env }).resolve(module);
  const inputs = resolved.manifest?.inputs ?? null;
  return {
    module,
    repository: resolved.ref.repository,
    commit: resolved.ref.commit,
    description: resolved.manifest?.description ?? '',
    inputs,
    ...(inputs === null ? { templateReads: templateInputNames(resolved.template) } : {}),
  };
}

/** An input's bounds or choices, short: `1 to 256`, `≥ 0`, `≤ 80 chars`, `cow | dragon`. */
function boundsOf(input: InputDeclaration): string {
  if (input.type === 'enum') return input.values!.join(' | ');
  if (input.maxLength !== undefined) return `≤ ${input.maxLength} chars`;
  if (input.min !== undefined && input.max !== undefined) return `${input.min} to ${input.max}`;
  if (input.min !== undefined) return `≥ ${input.min}`;
  if (input.max !== undefined) return `≤ ${input.max}`;
  return '';
}

/** `moduleInfo` as text: the description, then a table of the inputs. */
export function moduleInfoText(info: ModuleInfo): string {
  const lines = [`${info.module} (${info.repository} at ${info.commit})`];
  if (info.description) lines.push(info.description);
  lines.push('');
  if (info.inputs === null) {
    const reads = info.templateReads ?? [];
    lines.push(`inputs: none declared (untyped text; its template reads ${reads.length > 0 ? reads.join(', ') : 'none'}); a module declares them in its ${MANIFEST_FILE}`);
    return lines.join('\n') + '\n';
  }
  if (info.inputs.length === 0) return [...lines, 'inputs: none'].join('\n') + '\n';
  const rows = [
    ['INPUT', 'TYPE', 'DEFAULT', 'BOUNDS', 'REQUIRED', 'DESCRIPTION'],
    ...info.inputs.map((input) => [input.name, input.type, String(typedDefault(input) ?? ''), boundsOf(input), input.required ? 'yes' : 'no', input.description]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => [...row[column]!].length)));
  for (const row of rows) lines.push(row.map((cell, column) => (column === row.length - 1 ? cell : cell + ' '.repeat(widths[column]! - [...cell].length))).join('  '));
  return lines.join('\n') + '\n';
}

/**
 * Runs the module twice as a provider would (`prepareModuleJob`, `runPreparedJob`): its inputs by CID come
 * from this machine's lasting blockstore and the data that ships with lilypad (`-i NAME=@PATH` adds local
 * data first), every block checked, and a result folder that says why is written for a job that fails.
 */
export async function moduleTest(module: string, inputPairs: string[]): Promise<ModuleTestResult> {
  const given = await findLocalInputs(parseInputs(inputPairs, { flag: '-i' }));
  const blockstore = await openBlockstore(blocksDir(process.env));
  const executor = createWasmExecutor({ spareWorker: false });
  const work = await mkdtemp(path.join(os.tmpdir(), 'lilypad-module-test-'));
  try {
    const { resolved, warnings, inputs } = await moduleRender(module, await addLocalInputs(given.inputs, given.paths, blockstore));
    const ready = await prepareModuleJob(
      { module: resolved, moduleName: module, inputs, randomSeed: jobSeedOf({ moduleId: moduleIdOf(resolved.ref), inputsHash: inputsHashOf(inputs) }), inputPeers: [] },
      { executors: [executor], inputs: { source: localSource(blockstore), blockstore } },
    );
    // A module without a Timeout of its own still ends: this command must not hang on a loop.
    const prepared = { ...ready, limits: executionLimitsOf(ready.spec, { defaultWallClockMs: 60_000 }) };
    const cids: string[] = [];
    const exitCodes: number[] = [];
    for (const run of [1, 2]) {
      const resultDir = path.join(work, `run-${run}`);
      const result = await runPreparedJob(prepared, { jobId: '0x' + '00'.repeat(32), resultDir });
      exitCodes.push(result.exitCode);
      cids.push((await cidOfDirectory(resultDir)).toString());
    }
    return {
      module,
      deterministic: cids[0] === cids[1],
      cids: [cids[0]!, cids[1]!],
      exitCodes: [exitCodes[0]!, exitCodes[1]!],
      warnings,
    };
  } finally {
    await executor.close();
    await closeBlockstore(blockstore);
    await rm(work, { recursive: true, force: true });
  }
}

const BUILD_SCRIPT = `#!/usr/bin/env bash
# Rebuilds NAME.wasm from NAME.c (WASI preview1) and puts its CID into the template.
# Needs clang with a WASI sysroot, e.g. Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32
set -euo pipefail
cd "$(dirname "\${BASH_SOURCE[0]}")"
CC="\${CC:-clang}"
SYSROOT="\${WASI_SYSROOT:-/usr/share/wasi-sysroot}"
"$CC" --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -Wl,--strip-all -o NAME.wasm NAME.c
echo "built NAME.wasm; now run: lilypad module render . and put the new CID (lilypad module init prints how) into ${TEMPLATE_FILE}"
`;

export async function moduleInit(name: string, options: { dir?: string } = {}): Promise<{ dir: string; cid: string }> {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new UserInputError(`"${name}" is not a module name: use lower-case letters, digits, - and _`, { code: 'input-malformed' });
  }
  const dir = path.resolve(options.dir ?? name);
  if (await stat(dir).then(() => true, () => false)) {
    throw new UserInputError(`${dir} already exists; choose another name or remove it`, { code: 'input-malformed' });
  }
  const source = path.join(defaultBuiltinDir(), 'cowsay');
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(source, 'cowsay.wasm'), path.join(dir, `${name}.wasm`));
  await copyFile(path.join(source, 'cowsay.c'), path.join(dir, `${name}.c`));
  const cid = (await cidOfBytes(await readFile(path.join(dir, `${name}.wasm`)))).toString();
  const template = (await readFile(path.join(source, TEMPLATE_FILE), 'utf8')).replace(/"CID": "[^"]+"/, `"CID": "${cid}"`);
  await writeFile(path.join(dir, TEMPLATE_FILE), template);
  const manifest = {
    description: `${name}: says your message (a starting point: change ${name}.c)`,
    inputs: [{ name: 'Message', type: 'string', description: 'The text to say', required: true }],
  };
  await writeFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  await writeFile(path.join(dir, 'build.sh'), BUILD_SCRIPT.replaceAll('NAME', name), { mode: 0o755 });
  await writeFile(
    path.join(dir, 'README.md'),
    `# ${name}\n\nA Lilypad WebAssembly module.\n\n- \`${name}.c\`: the program (WASI preview1); \`./build.sh\` rebuilds \`${name}.wasm\`.\n` +
      `- \`${TEMPLATE_FILE}\`: the job, in Go's text/template; inputs are JSON strings (\`{{ .Message }}\`).\n` +
      `- \`${MANIFEST_FILE}\`: the module's description and its declared inputs (type, description, default, bounds), which\n` +
      `  \`lilypad run\` checks before it posts a job and \`lilypad module info ./${name}\` shows.\n` +
      `  \`EntryModule.CID\` names \`${name}.wasm\` by its CID; change it when the .wasm changes.\n\n` +
      `Try it: \`lilypad module render ./${name} -i Message=hi\`, \`lilypad module test ./${name} -i Message=hi\`,\n` +
      `then publish with a git tag and run \`lilypad run host/owner/${name}:v0.0.1 -i Message=hi\`.\n`,
  );
  return { dir, cid };
}

export function registerModuleCommands(program: Command): void {
  const module = program.command('module').description('commands for module authors');

  module
    .command('init')
    .description('create a working WebAssembly module in a new folder: lilypad module init hello')
    .argument('<name>', 'the module name (also the folder)')
    .option('--dir <dir>', 'where to create it (default: ./NAME)')
    .action(async (name: string, flags: { dir?: string }) => {
      const { dir, cid } = await moduleInit(name, flags);
      process.stdout.write(`created module ${name} in ${dir} (${name}.wasm is ${cid})\n`);
      process.stdout.write(`try: lilypad module test ./${path.relative(process.cwd(), dir) || '.'} -i Message=hello\n`);
    });

  module
    .command('info')
    .description("show a module's description and its inputs (name, type, default, bounds): lilypad module info llm:v1")
    .argument('<module>', 'NAME:TAG, host/owner/repo:TAG, file:///repo:TAG or ./folder')
    .option('--json', 'print one JSON object')
    .action(async (name: string, flags: { json?: boolean }) => {
      const info = await moduleInfo(name);
      process.stdout.write(flags.json ? JSON.stringify(info) + '\n' : moduleInfoText(info));
    });

  module
    .command('render')
    .description('print the job spec a module renders to: lilypad module render cowsay:v0.0.1 -i Message=moo')
    .argument('<module>', 'NAME:TAG, host/owner/repo:TAG, file:///repo:TAG or ./folder')
    .option('-i, --input <KEY=VALUE>', "an input for the module's template (repeatable)", collect, [] as string[])
    .action(async (name: string, flags: { input: string[] }) => {
      const { spec, warnings, resolved } = await moduleRender(name, flags.input);
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stderr.write(`module ${name}: ${resolved.ref.repository} at ${resolved.ref.commit}\n`);
      process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
    });

  module
    .command('test')
    .description('run a module twice here and say whether its results are the same (deterministic)')
    .argument('<module>', 'NAME:TAG, host/owner/repo:TAG, file:///repo:TAG or ./folder')
    .option('-i, --input <KEY=VALUE>', "an input for the module's template (repeatable)", collect, [] as string[])
    .option('--json', 'print one JSON object')
    .action(async (name: string, flags: { input: string[]; json?: boolean }) => {
      const result = await moduleTest(name, flags.input);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
      } else {
        for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
        process.stdout.write(`run 1: exit code ${result.exitCodes[0]}, result ${result.cids[0]}\n`);
        process.stdout.write(`run 2: exit code ${result.exitCodes[1]}, result ${result.cids[1]}\n`);
        process.stdout.write(
          result.deterministic
            ? `module ${name} is deterministic: both runs gave ${result.cids[0]}\n`
            : `module ${name} is NOT deterministic: the runs gave different results; a mediator would rule against it\n`,
        );
      }
      if (!result.deterministic) process.exitCode = 2;
    });
}
