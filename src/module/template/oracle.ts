/**
 * Test-only: Go's own text/template (compiled to WebAssembly by @evertdespiegeleer/go-template, Go 1.25)
 * as an oracle. It renders with the template name "tpl", data decoded by encoding/json (numbers are
 * float64), and missingkey=error — unlike Go's default, which prints "<no value>"; the tests run our
 * engine with the same setting when they compare.
 */
import { parse as initOracle } from '@evertdespiegeleer/go-template';

export type OracleResult = { ok: true; output: string } | { ok: false; message: string };

let render: ((template: string, json: string) => string) | undefined;

export async function loadOracle(): Promise<(template: string, data: unknown) => OracleResult> {
  if (!render) {
    await initOracle('', {});
    render = (globalThis as unknown as { Render: (t: string, j: string) => string }).Render;
  }
  const r = render;
  return (template, data) => {
    const out = r(template, JSON.stringify(data));
    for (const prefix of ['Template parse error: ', 'Template exec error: ', 'JSON parse error: ']) {
      if (out.startsWith(prefix)) return { ok: false, message: out.slice(prefix.length) };
    }
    return { ok: true, output: out };
  };
}
