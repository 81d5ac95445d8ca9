#!/usr/bin/env node
/**
 * The CIDs the llm modules' templates name, kept equal to the files they name: each module's EntryModule
 * (its .wasm) and the one default of WeightsCID, the CID of models/llm/model.safetensors under the
 * project's chunking profile, which llm, lora-training and lora-inference all default to (in the template,
 * and as the declared default of the WeightsCID input in module.json). Run it after
 * `npm run build:wasm` or when new weights land:
 *
 *   node scripts/update-llm-cids.mjs          rewrites the templates where they differ
 *   node scripts/update-llm-cids.mjs --check  says what differs and exits 1 (tests run this)
 *
 * Needs `npm run build` (it takes the CIDs from dist/storage, as `lilypad add` does).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cidOfBytes, cidOfFile } from '../dist/storage/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const LLM_MODULES = ['llm', 'lora-training', 'lora-inference'];
const WEIGHTS = path.join(root, 'models', 'llm', 'model.safetensors');
/** `{{- $weightsCID := "\"CID\"" -}}`: the one line of a template that holds the default. */
const WEIGHTS_LINE = /(\{\{- \$weightsCID := "\\")([^"\\]*)(\\"" -\}\})/;
const ENTRY = /("EntryModule": \{\s*"StorageSource": "IPFS",\s*"CID": ")([^"]*)(")/;
/** module.json's declaration of WeightsCID, on one line: its `"default"`. */
const DECLARED_WEIGHTS = /(\{"name": "WeightsCID", [^\n]*"default": ")([^"]*)(")/;

const check = process.argv.includes('--check');
if (!existsSync(WEIGHTS)) {
  console.error(`update-llm-cids: ${path.relative(root, WEIGHTS)} is missing (scripts/train-llm.py writes it)`);
  process.exit(1);
}
const weightsCid = (await cidOfFile(WEIGHTS)).toString();
const differences = [];
for (const name of LLM_MODULES.filter((name) => existsSync(path.join(root, 'modules', name)))) {
  const templatePath = path.join(root, 'modules', name, 'lilypad_module.json.tmpl');
  const template = readFileSync(templatePath, 'utf8');
  const entryCid = (await cidOfBytes(readFileSync(path.join(root, 'modules', name, `${name}.wasm`)))).toString();
  let updated = template;
  for (const [pattern, want, what] of [[WEIGHTS_LINE, weightsCid, 'WeightsCID default'], [ENTRY, entryCid, 'EntryModule CID']]) {
    const found = pattern.exec(updated);
    if (!found) throw new Error(`${path.relative(root, templatePath)} has no ${what} in the expected form`);
    if (found[2] !== want) {
      differences.push(`${name}: the ${what} is ${found[2]}, the file's CID is ${want}`);
      updated = updated.replace(pattern, `$1${want}$3`);
    }
  }
  if (!check && updated !== template) writeFileSync(templatePath, updated);

  const manifestPath = path.join(root, 'modules', name, 'module.json');
  const manifest = readFileSync(manifestPath, 'utf8');
  const declared = DECLARED_WEIGHTS.exec(manifest);
  if (!declared) throw new Error(`${path.relative(root, manifestPath)} has no WeightsCID input with a default in the expected form`);
  if (declared[2] !== weightsCid) {
    differences.push(`${name}: module.json's WeightsCID default is ${declared[2]}, the file's CID is ${weightsCid}`);
    if (!check) writeFileSync(manifestPath, manifest.replace(DECLARED_WEIGHTS, `$1${weightsCid}$3`));
  }
}
for (const line of differences) console.error(`update-llm-cids: ${line}${check ? '' : ' (updated)'}`);
if (check && differences.length > 0) {
  console.error('update-llm-cids: run node scripts/update-llm-cids.mjs to update the templates');
  process.exit(1);
}
console.log(`weights ${weightsCid}`);
