/**
 * The folder of the lilypad package (where `modules/` lives), found by walking up from this file, so
 * that it is the same from src/ under the tests, from dist/ and from the bundled CLI.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'lilypad') return (cached = dir);
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the lilypad package folder above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
