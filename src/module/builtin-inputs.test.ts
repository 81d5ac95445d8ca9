/**
 * The built-in modules' declared inputs against their templates: a declared default is what the template does
 * when the input is left out, and every declared input reaches the job, so the two never drift apart.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkInputs, type InputDeclaration } from './inputs.js';
import { readModuleManifest } from './manifest.js';
import { renderModule } from './render.js';
import { createModuleResolver, defaultBuiltinDir } from './resolve.js';

const EMPTY_FILE_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
const builtins = readdirSync(defaultBuiltinDir(), { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
const modules = createModuleResolver();

/** A valid value for the input that is not its default. */
function otherValue(declaration: InputDeclaration): string {
  const fallback = declaration.default === undefined ? undefined : String(declaration.default);
  switch (declaration.type) {
    case 'integer':
    case 'number': {
      const low = declaration.min ?? 0;
      return String(Number(fallback) === low ? low + 1 : low);
    }
    case 'boolean':
      return fallback === 'true' ? 'false' : 'true';
    case 'enum':
      return declaration.values!.find((value) => value !== fallback)!;
    case 'cid':
      return EMPTY_FILE_CID;
    case 'string':
      return 'something else';
  }
}

describe.each(builtins)('built-in module %s', (name) => {
  test('declares its inputs; each default renders as leaving the input out does, and each input reaches the job', async () => {
    const tags = (await readModuleManifest(path.join(defaultBuiltinDir(), name), name))!.tags!;
    const resolved = await modules.resolve(`${name}:${tags.at(-1)}`);
    const declarations = resolved.manifest?.inputs;
    expect(declarations, `modules/${name}/module.json declares no inputs`).toBeDefined();
    const required = Object.fromEntries(declarations!.filter((d) => d.required).map((d) => [d.name, otherValue(d)]));
    const render = (inputs: Record<string, string>) => renderModule(name, resolved.template, inputs);
    const bare = render(required);
    for (const declaration of declarations!) {
      if (declaration.required) {
        // The template reads it: without it, it does not render.
        const { [declaration.name]: _left, ...without } = required;
        expect(() => render(without)).toThrow(`needs input ${declaration.name}`);
        continue;
      }
      const given = { ...required, [declaration.name]: otherValue(declaration) };
      expect(render(checkInputs(declarations, given, name)), `${declaration.name} does not reach the job`).not.toEqual(bare);
      if (declaration.default === undefined) continue;
      const withDefault = checkInputs(declarations, { ...required }, name);
      expect(withDefault[declaration.name]).toBeDefined();
      expect(render({ ...required, [declaration.name]: withDefault[declaration.name]! }), `${declaration.name}'s declared default is not the template's`).toEqual(bare);
    }
    // All defaults filled in at once (what a job creator sends) is the same job as none.
    expect(render(checkInputs(declarations, required, name))).toEqual(bare);
  });
});
