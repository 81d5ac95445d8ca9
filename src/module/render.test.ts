import { describe, expect, test } from 'vitest';
import { renderModuleDetailed, renderModule } from './render.js';
import { DEFAULT_MAX_STEPS } from './template/exec.js';
import { MAX_PARSE_DEPTH } from './template/parser.js';
import { renderTemplate, TemplateError } from './template/template.js';

const wasmSpec = (params: string, env = '{}') => `{
  "machine": {"gpu": 0, "cpu": 1000, "ram": 100},
  "job": {"APIVersion": "V1beta1", "Spec": {"Engine": "Wasm",
    "Wasm": {"EntryModule": {"CID": "bafkrei"}, "Parameters": ${params}, "EnvironmentVariables": ${env}},
    "Outputs": [{"Name": "outputs", "StorageSource": "IPFS", "path": "/outputs"}], "Timeout": 60}}}`;

describe('rendering module templates in the style of the original modules', () => {
  test('a bare {{.Message}} inside the parameters, JSON-encoded so quotes cannot break out', () => {
    const spec = renderModule('m', wasmSpec('[{{ .Message }}]'), { Message: 'say "hi", }' });
    expect(spec.job.Spec.Wasm?.Parameters).toEqual(['say "hi", }']);
  });

  test('{{if .Message}}{{.Message}}{{else}}"..."{{end}} picks the default', () => {
    const t = wasmSpec('[{{if .Message}}{{.Message}}{{else}}"a default"{{end}}]');
    expect(renderModule('m', t, {}).job.Spec.Wasm?.Parameters).toEqual(['a default']);
    expect(renderModule('m', t, { Message: 'x' }).job.Spec.Wasm?.Parameters).toEqual(['x']);
  });

  test('PromptEnv/SeedEnv environment variables with defaults (Docker, list form), an input CID and subst', () => {
    const t = `{"machine": {"gpu": 1000, "cpu": 8000, "ram": 16000},
      "job": {"APIVersion": "V1beta1", "Spec": {"Engine": "Docker",
        "Docker": {"Image": "ghcr.io/x/sdxl@sha256:abc",
          {{ if .Prompt }}{{ $p := printf "PROMPT=%s" .Prompt }}{{ end }}
          "EnvironmentVariables": [{{ if .Prompt }}{{ subst "\\"PROMPT=%s\\"" .Prompt }}{{ else }}"PROMPT=an astronaut"{{ end }},
            {{ if .Seed }}{{ subst "\\"SEED=%s\\"" .Seed }}{{ else }}"SEED=42"{{ end }}]},
        "Inputs": [{"StorageSource": "IPFS", "CID": {{ .InputCID }}, "Path": "/inputs"}],
        "Outputs": [{"Name": "outputs", "StorageSource": "IPFS", "Path": "/outputs"}]}}}`;
    const spec = renderModule('sdxl', t, { Prompt: 'a cat', InputCID: 'bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm' });
    expect(spec.job.Spec.Docker?.EnvironmentVariables).toEqual({ PROMPT: 'a cat', SEED: '42' });
    expect(spec.job.Spec.Inputs[0]?.CID).toBe('bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm');
    expect(spec.machine).toMatchObject({ gpu: 1000, cpu: 8000, ram: 16000 });
  });

  test('environment variables as NAME=value strings: the first = splits, a later name replaces an earlier one', () => {
    const spec = renderModule('m', wasmSpec('[]', '["A=b=c", "EMPTY=", "A=d"]'), {});
    expect(spec.job.Spec.Wasm?.EnvironmentVariables).toEqual({ A: 'd', EMPTY: '' });
    // No name, or no value at all, is the module's mistake, named with where it is.
    for (const entry of ['"=x"', '"NAME"']) {
      expect(() => renderModule('m', wasmSpec('[]', `[${entry}]`), {})).toThrow(
        'module m rendered an invalid job spec at job.Spec.Wasm.EnvironmentVariables.0: an environment variable is NAME=value',
      );
    }
  });

  test('keys match case-insensitively, unknown keys are ignored, a trailing comma is a warning', () => {
    const t = `{"Machine": {"CPU": 100, "RAM": 64, "unknown": 1},
      "JOB": {"apiversion": "V1beta1", "spec": {"engine": "Wasm", "wasm": {"entrymodule": {"cid": "bafk"}, "parameters": [{{.M}}],}},},}`;
    const { spec, warnings } = renderModuleDetailed('m', t, { M: 'moo' });
    expect(spec.machine.cpu).toBe(100);
    expect(spec.job.Spec.Wasm?.Parameters).toEqual(['moo']);
    expect(warnings).toEqual([expect.stringContaining('trailing comma')]);
  });

  test('a missing input says which input to pass', () => {
    expect(() => renderModule('cowsay:v0.0.1', wasmSpec('[{{ .Message }}]'), {})).toThrow(
      'module cowsay:v0.0.1 needs input Message: pass -i Message=VALUE',
    );
  });
});

describe('bad input gives a clear error', () => {
  test('an unterminated action names the template and line', () => {
    expect(() => renderModule('m', '{\n"a": {{ .Message', { Message: 'x' })).toThrow('template: lilypad_module.json.tmpl:2: unclosed action');
  });
  test('an unknown function', () => {
    expect(() => renderModule('m', '{{ shout .Message }}', { Message: 'x' })).toThrow('function "shout" not defined');
  });
  test('a template that calls itself forever', () => {
    expect(() => renderModule('m', '{{define "loop"}}{{template "loop" .}}{{end}}{{template "loop" .}}', {})).toThrow(
      /lilypad_module.json.tmpl:1:\d+: executing "loop" at <{{template "loop" .}}>: exceeded maximum template depth \(1000\)/,
    );
  });
  test('a 10 MB input', () => {
    expect(() => renderModule('m', wasmSpec('[{{ .Message }}]'), { Message: 'x'.repeat(10 * 1024 * 1024) })).toThrow(
      'input Message is 10.0 MB; inputs may be at most 1 MB',
    );
  });
  test('output that is not JSON shows the line and an excerpt', () => {
    expect(() => renderModule('m', '{\n  "machine": {"cpu": 1}\n  "job": {{ .M }}\n}', { M: 'x' })).toThrow(
      /rendered invalid JSON at line 3, column \d+: .*\n {2}"job": "x"/,
    );
  });
  test('a spec without Engine', () => {
    expect(() => renderModule('m', '{"machine": {"cpu": 1, "ram": 1}, "job": {"APIVersion": "V1beta1", "Spec": {}}}', {})).toThrow(
      'module m rendered a job spec without Engine (expected job.Spec.Engine "Wasm" or "Docker")',
    );
  });
});

describe("Go's defaults that the oracle does not use", () => {
  test('a missing key prints <no value> and is reported', () => {
    expect(renderTemplate('t', '{{.a}}-{{.b.c}}', { b: {} })).toEqual({ output: '<no value>-<no value>', missing: ['a'] });
  });
  test('subst JSON-decodes its arguments', () => {
    expect(renderTemplate('t', '{{subst "%s and %s" .a .b}}', { a: '"x"', b: '"y \\" z"' }).output).toBe('x and y " z');
  });
});

describe('bounded work: a hostile template ends with a one-line error', () => {
  const failure = (template: string): TemplateError => {
    try {
      renderModule('hostile', template, {});
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateError);
      expect((error as Error).message).not.toContain('\n');
      expect((error as Error).message).toMatch(/^module hostile failed to render \(its author must fix the template\): template: lilypad_module\.json\.tmpl:/);
      return error as TemplateError;
    }
    throw new Error('the template rendered');
  };

  test.each([
    ['a range over 10^14', '{{range 100000000000000}}{{end}}'],
    ['nested ranges', '{{range 100000}}{{range 100000}}{{end}}{{end}}'],
    ['a template that calls itself twice, 40 deep', `{{define "a"}}{{if .}}{{template "a" (slice . 1)}}{{template "a" (slice . 1)}}{{end}}{{end}}{{template "a" "${'x'.repeat(40)}"}}`],
  ])('%s stops at the step budget', (_name, template) => {
    const error = failure(template);
    expect(error.code).toBe('template-exec');
    expect(error.message).toContain(`took more than ${DEFAULT_MAX_STEPS} steps; a template must do bounded work`);
  });

  test('a template that calls itself for ever stops at the depth limit', () => {
    expect(failure('{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}').message).toContain('exceeded maximum template depth (1000)');
  });

  test('100,000 nested {{if}} are refused by the parser, not by a stack overflow', () => {
    const error = failure(`${'{{if 1}}'.repeat(100_000)}x${'{{end}}'.repeat(100_000)}`);
    expect(error.code).toBe('template-parse');
    expect(error.message).toContain(`max nesting depth exceeded: actions and parentheses nest more than ${MAX_PARSE_DEPTH} deep`);
  });

  test('100,000 nested parentheses are refused by the parser', () => {
    const error = failure(`{{${'('.repeat(100_000)}1${')'.repeat(100_000)}}}`);
    expect(error.code).toBe('template-parse');
    expect(error.message).toContain(`max expression depth exceeded: actions and parentheses nest more than ${MAX_PARSE_DEPTH} deep`);
  });

  test('nesting up to the limit still parses', () => {
    const depth = MAX_PARSE_DEPTH - 2;
    const half = depth / 2;
    const template = `${'{{if 1}}'.repeat(half)}{{${'('.repeat(half)}"ok"${')'.repeat(half)}}}${'{{end}}'.repeat(half)}`;
    expect(renderTemplate('deep', template, {}).output).toBe('ok');
    expect(renderTemplate('deep', `${'{{if 1}}'.repeat(depth)}ok${'{{end}}'.repeat(depth)}`, {}).output).toBe('ok');
  });
});
