/**
 * A rendered module's `Spec.Inputs`: which CIDs the job sees, and where under `/inputs`. Checked when the
 * module renders (so a job creator learns of a bad input before it signs, and a provider before it agrees),
 * and read again by `prepare-job.ts`, which fetches each input before the job runs.
 */
import { CID } from 'multiformats/cid';
import { ModuleError } from '../lib/errors.js';
import type { ModuleSpec } from './spec.js';

/** The most inputs one job may name: each is a fetch, a folder and a line of checks. */
export const MAX_JOB_INPUTS = 32;

const DAG_PB_CODE = 0x70;
const RAW_CODE = 0x55;
const SHA2_256_CODE = 0x12;

/** The folder every input lives under, as the job sees it. */
export const INPUTS_ROOT = '/inputs';

export interface JobInput {
  /** How errors name it: the job input that gave its CID (`ImagesCID`), else its `Name`, else its `Path`. */
  label: string;
  /** The DAG's root. */
  cid: CID;
  /** Names inside the root's DAG to walk before reaching the input (`<cid>/outputs/lora.safetensors`). */
  within: string[];
  /** As written in the template: `/inputs/images`. */
  path: string;
  /** Segments below `/inputs`; empty when the input is `/inputs` itself. */
  segments: string[];
}

/**
 * The inputs of `spec`, each checked: IPFS only, a well-formed CID (optionally followed by a path inside its
 * DAG), a Path under `/inputs` that cannot leave it, no two inputs at the same or nested paths, at most
 * MAX_JOB_INPUTS. `jobInputs` (the offer's `-i` values) only names the inputs in errors.
 */
export function jobInputsOf(spec: ModuleSpec, moduleName: string, jobInputs: Record<string, string> = {}): JobInput[] {
  const entries = spec.job.Spec.Inputs;
  const fail = (message: string, code = 'input-invalid') => new ModuleError(`module ${moduleName}: ${message}`, { code });
  if (entries.length > MAX_JOB_INPUTS) throw fail(`names ${entries.length} inputs; a job may have at most ${MAX_JOB_INPUTS}`, 'input-too-many');
  const inputs: JobInput[] = [];
  entries.forEach((entry, index) => {
    const given = (entry.CID ?? '').trim();
    const fromJobInput = Object.entries(jobInputs).find(([, value]) => given !== '' && value.trim() === given)?.[0];
    const label = fromJobInput ?? entry.Name ?? entry.Path ?? `#${index + 1}`;
    const named = `input ${label}`;
    if (entry.StorageSource !== undefined && entry.StorageSource.toLowerCase() !== 'ipfs') {
      throw fail(`${named} has StorageSource ${JSON.stringify(entry.StorageSource)}; only IPFS inputs (by CID) can be fetched and checked`);
    }
    if (given === '') throw fail(`${named} has no CID`);
    const [root = '', ...within] = given.replace(/^\/?ipfs\//, '').split('/');
    let cid: CID;
    try {
      cid = CID.parse(root);
    } catch {
      throw fail(`${named}: ${JSON.stringify(root)} is not a CID (expected one like bafy... or Qm...)`, 'input-bad-cid');
    }
    // What fetch.ts can check block by block and export.ts can write out: UnixFS under sha2-256.
    if (cid.code !== DAG_PB_CODE && cid.code !== RAW_CODE) {
      throw fail(`${named}: CID ${root} is not UnixFS (its codec is 0x${cid.code.toString(16)}); an input is a file or a folder`, 'input-bad-cid');
    }
    if (cid.multihash.code !== SHA2_256_CODE) {
      throw fail(`${named}: CID ${root} is not hashed with sha2-256, so its blocks cannot be checked here`, 'input-bad-cid');
    }
    if (within.some((name) => !isPlainName(name))) {
      throw fail(`${named}: ${JSON.stringify(given)} has an empty, "." or ".." segment in its path inside the CID`, 'input-bad-cid');
    }
    const segments = segmentsOf(entry.Path);
    if (segments === undefined) {
      throw fail(`${named} has Path ${JSON.stringify(entry.Path ?? '')}; a Path must be ${INPUTS_ROOT} or a path under it without "." or ".." segments`, 'input-bad-path');
    }
    inputs.push({ label, cid, within, path: entry.Path!, segments });
  });
  for (const [i, a] of inputs.entries()) {
    for (const b of inputs.slice(i + 1)) {
      if (isPrefix(a.segments, b.segments) || isPrefix(b.segments, a.segments)) {
        throw fail(`inputs ${a.label} (${a.path}) and ${b.label} (${b.path}) overlap; each input needs a path of its own`, 'input-bad-path');
      }
    }
  }
  return inputs;
}

/** `/inputs/a/b` → `['a', 'b']`; undefined for anything that is not plainly under `/inputs`. */
function segmentsOf(path: string | undefined): string[] | undefined {
  if (path === undefined || !path.startsWith(INPUTS_ROOT)) return undefined;
  const rest = path.slice(INPUTS_ROOT.length).replace(/\/$/, '');
  if (rest === '') return [];
  if (!rest.startsWith('/')) return undefined; // `/inputsX`
  const segments = rest.slice(1).split('/');
  return segments.every(isPlainName) ? segments : undefined;
}

/** One path segment that names a child: not empty, `.` or `..`, no NUL or backslash (a Windows separator). */
function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('\0') && !name.includes('\\');
}

function isPrefix(prefix: string[], of: string[]): boolean {
  return prefix.length <= of.length && prefix.every((segment, i) => of[i] === segment);
}
