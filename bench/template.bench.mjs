// Renders per second of our Go text/template engine (dist/, built by `npm run build`) against Go's own
// engine compiled to WebAssembly (@evertdespiegeleer/go-template), in the same run: the cowsay template,
// and a large template with ranges, conditionals, printf and nested templates.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as initOracle } from '@evertdespiegeleer/go-template';
import { root, writeResults } from './lib.mjs';
import { parseTemplate, renderTemplate } from '../dist/module/template/template.js';

await initOracle('', {});
const goRender = globalThis.Render;

const cowsay = readFileSync(path.join(root, 'modules', 'cowsay', 'lilypad_module.json.tmpl'), 'utf8');
const cowsayData = { Message: JSON.stringify('moo') };

const rows = Array.from({ length: 200 }, (_, i) => ({ name: `item-${i}`, price: i * 1.25, tags: ['a', 'b', 'c'].slice(0, i % 4), on: i % 3 === 0 }));
const large =
  '{{define "row"}}{"name": {{printf "%q" .name}}, "price": {{printf "%.2f" .price}}, "tags": [{{range $i, $t := .tags}}{{if $i}}, {{end}}"{{$t}}"{{end}}]}{{end}}' +
  '{"rows": [{{range $i, $r := .rows}}{{if $i}},\n{{end}}{{if $r.on}}{{template "row" $r}}{{else}}{"name": {{printf "%q" $r.name}}, "off": true}{{end}}{{end}}],\n' +
  ' "count": {{len .rows}}, "title": {{.title | printf "%q"}}, "html": "{{html .title}}"}\n';
const largeData = { rows, title: 'A <large> template' };

function measure(fn, minMs = 400) {
  for (let i = 0; i < 20; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
    elapsed = performance.now() - start;
  }
  return (n / elapsed) * 1000;
}

function check(name, template, data) {
  const ours = renderTemplate('tpl', template, JSON.parse(JSON.stringify(data))).output;
  const go = goRender(template, JSON.stringify(data));
  if (ours !== go) throw new Error(`${name}: our output differs from Go's`);
  return ours.length;
}

const figures = {};
for (const [name, template, data] of [['cowsay', cowsay, cowsayData], ['large', large, largeData]]) {
  const outputChars = check(name, template, data);
  const json = JSON.stringify(data);
  const parsed = parseTemplate('tpl', template);
  const oursParseAndRender = measure(() => renderTemplate('tpl', template, JSON.parse(json)));
  const oursRenderOnly = measure(() => parsed.execute(JSON.parse(json)));
  const go = measure(() => goRender(template, json));
  figures[name] = {
    templateChars: template.length,
    outputChars,
    oursRendersPerSecond: Math.round(oursParseAndRender),
    oursPreparsedRendersPerSecond: Math.round(oursRenderOnly),
    goWasmRendersPerSecond: Math.round(go),
    ratioToGo: Number((oursParseAndRender / go).toFixed(2)),
  };
  process.stdout.write(
    `template ${name}: ${Math.round(oursParseAndRender)} renders/s (parse + execute; ${Math.round(oursRenderOnly)}/s pre-parsed), ` +
      `Go's engine (WebAssembly) ${Math.round(go)}/s, ratio ${(oursParseAndRender / go).toFixed(2)}x\n`,
  );
}
writeResults('template', figures);
