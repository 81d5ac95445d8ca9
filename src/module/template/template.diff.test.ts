/**
 * Differential tests: our engine against Go's own text/template (oracle.ts), on the hand-written corpus
 * and on random templates from fast-check. Both run with missingkey=error, the oracle's setting (Go's
 * default prints "<no value>" for a missing key; template.test.ts checks that default separately).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { corpus, corpusData } from './corpus.js';
import { builtins } from './functions.js';
import { loadOracle, type OracleResult } from './oracle.js';
import { renderTemplate } from './template.js';

let oracle: (template: string, data: unknown) => OracleResult;
beforeAll(async () => {
  oracle = await loadOracle();
});

function ours(template: string, data: unknown): OracleResult {
  try {
    // Data goes through JSON as the oracle's does: every number a float64.
    const output = renderTemplate('tpl', template, JSON.parse(JSON.stringify(data)), { missingKey: 'error', funcs: builtins }).output;
    return { ok: true, output };
  } catch (error) {
    if ((error as Error).name !== 'TemplateError') throw error;
    return { ok: false, message: (error as Error).message };
  }
}

/**
 * Known differences, each explained:
 * - Go native allows 100000 nested {{template}} calls; the oracle (Go on WebAssembly) and we allow 1000,
 *   because a JavaScript stack would not hold 100000.
 */
describe('differential: Go text/template', () => {
  test(`hand-written corpus (${corpus.length} cases) matches Go`, () => {
    expect(corpus.length).toBeGreaterThanOrEqual(300);
    const diffs: string[] = [];
    for (const template of corpus) {
      const want = oracle(template, corpusData);
      const got = ours(template, corpusData);
      if (JSON.stringify(want) !== JSON.stringify(got)) diffs.push(`${JSON.stringify(template)}\n  go: ${JSON.stringify(want)}\n  ts: ${JSON.stringify(got)}`);
    }
    expect(diffs.join('\n')).toBe('');
  });

  test('1000 random templates match Go', () => {
    const data = corpusData;
    const ident = fc.constantFrom('s', 'e', 'n', 'z', 'f', 't', 'fa', 'c', 'a', 'ea', 'm', 'list', 'nums', 'u', 'people');
    const text = fc.constantFrom('', 'x', ' ', '\n', 'a b', '{', '}', '-', ' \n ', 'é');
    const literal = fc.oneof(
      fc.integer({ min: -1000, max: 1000 }).map(String),
      fc.double({ min: -1e7, max: 1e7, noNaN: true, noDefaultInfinity: true }).map((d) => (Number.isInteger(d) ? d.toFixed(1) : String(d))),
      fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)),
      fc.constantFrom('true', 'false', '.', '$', "'a'", '0x10', '1e3'),
    );
    const field = fc.oneof(ident.map((i) => '.' + i), fc.tuple(ident, ident).map(([a, b]) => `.${a}.${b}`), ident.map((i) => '$.' + i));
    const operand = fc.oneof({ weight: 3, arbitrary: field }, { weight: 2, arbitrary: literal });
    const fn = fc.constantFrom('len', 'not', 'and', 'or', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'print', 'println', 'html', 'js', 'urlquery', 'index', 'slice');
    const format = fc.constantFrom('%v', '%s', '%d', '%q', '%x', '%t', '%5.2f', '%-4v|', '%05d', '%g', '%e', '%T', '%%', '%v %v', '%[2]v %[1]v', '%08.3f');
    const command = fc.oneof(
      { weight: 3, arbitrary: operand },
      { weight: 3, arbitrary: fc.tuple(fn, fc.array(operand, { minLength: 0, maxLength: 3 })).map(([f, args]) => [f, ...args].join(' ')) },
      { weight: 2, arbitrary: fc.tuple(format, fc.array(operand, { maxLength: 3 })).map(([f, args]) => ['printf', JSON.stringify(f), ...args].join(' ')) },
    );
    const pipeline = fc.oneof(
      { weight: 4, arbitrary: command },
      { weight: 1, arbitrary: fc.tuple(command, fn).map(([c, f]) => `${c} | ${f}`) },
      { weight: 1, arbitrary: command.map((c) => `(${c})`) },
    );
    const trimL = fc.constantFrom('{{', '{{- ', '{{ ');
    const trimR = fc.constantFrom('}}', ' -}}', ' }}');
    const node: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        { weight: 3, arbitrary: text },
        { weight: 4, arbitrary: fc.tuple(trimL, pipeline, trimR).map(([l, p, r]) => l + p + r) },
        { weight: 1, arbitrary: fc.tuple(pipeline, tie('node'), tie('node')).map(([p, a, b]) => `{{if ${p}}}${a}{{else}}${b}{{end}}`) },
        { weight: 1, arbitrary: fc.tuple(pipeline, tie('node')).map(([p, a]) => `{{with ${p}}}${a}{{end}}`) },
        { weight: 1, arbitrary: fc.tuple(field, tie('node'), tie('node')).map(([p, a, b]) => `{{range $i, $v := ${p}}}${a}{{$i}}{{else}}${b}{{end}}`) },
        { weight: 1, arbitrary: fc.tuple(pipeline, tie('node')).map(([p, a]) => `{{$x := ${p}}}${a}{{$x}}`) },
      ),
    })).node;
    const template = fc.array(node, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(template, (t) => {
        const want = oracle(t, data);
        const got = ours(t, data);
        expect(got).toEqual(want);
      }),
      { numRuns: 1000, seed: Number(process.env.TEMPLATE_FUZZ_SEED ?? 20250401) },
    );
  });
});
