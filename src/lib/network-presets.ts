/**
 * Network presets: a named set of the variables `lilypad run` needs (chain RPC URL, deal contract, token,
 * solver, mediators), so that on a known network a user sets only a private key. A preset is a JSON file
 * `NAME.json` in `LILYPAD_NETWORKS_DIR` (default `~/.lilypad/networks`); `lilypad stack up` writes one
 * named `stack`. Variables already in the environment win over the preset's.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserInputError } from './errors.js';

/** What a preset may set; never a private key. */
export const presetVariables = ['WEB3_RPC_URL', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS', 'LILYPAD_TOKEN_ADDRESS'] as const;
export type NetworkPreset = Partial<Record<(typeof presetVariables)[number], string>>;

export function networksDir(env: NodeJS.ProcessEnv): string {
  return env.LILYPAD_NETWORKS_DIR || path.join(os.homedir(), '.lilypad', 'networks');
}

export function listNetworkPresets(env: NodeJS.ProcessEnv): string[] {
  const dir = networksDir(env);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

export function readNetworkPreset(name: string, env: NodeJS.ProcessEnv): NetworkPreset {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UserInputError(`--network ${name}: a preset name is letters, digits, ".", "_" and "-"`, { code: 'input-malformed' });
  const file = path.join(networksDir(env), `${name}.json`);
  if (!existsSync(file)) {
    const known = listNetworkPresets(env);
    throw new UserInputError(
      `no network preset ${name} in ${networksDir(env)}; ${known.length ? `presets: ${known.join(', ')}` : 'there are none yet (`lilypad stack up` writes one named stack)'}`,
      { code: 'network-preset-missing' },
    );
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserInputError(`network preset ${file} is not valid JSON: ${(error as Error).message}`, { code: 'config-invalid' });
  }
  const preset: NetworkPreset = {};
  for (const name of presetVariables) if (typeof raw[name] === 'string') preset[name] = raw[name];
  return preset;
}

export function writeNetworkPreset(name: string, preset: NetworkPreset, env: NodeJS.ProcessEnv): string {
  const dir = networksDir(env);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  const kept: NetworkPreset = {};
  for (const variable of presetVariables) if (preset[variable] !== undefined) kept[variable] = preset[variable];
  writeFileSync(file, JSON.stringify(kept, null, 2) + '\n');
  return file;
}

/** Fills the variables the environment does not set from the preset. */
export function applyNetworkPreset(env: NodeJS.ProcessEnv, name: string): void {
  const preset = readNetworkPreset(name, env);
  for (const [variable, value] of Object.entries(preset)) if (!env[variable]) env[variable] = value;
}
