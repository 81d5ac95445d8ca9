import { describe, expect, it } from 'vitest';
import { checkInputs, loadCatalog, templateInputs } from './catalog.js';

describe('the studio\'s catalog', () => {
  it('finds the inputs a template reads', () => {
    expect(templateInputs('"Parameters": [{{ .Message }}]')).toEqual(['Message']);
    expect(templateInputs('{{- or .Seed "42" -}} {{.Prompt}} {{ if .Steps }}{{ .Steps }}{{ end }} {{ .Prompt }}')).toEqual(['Seed', 'Prompt', 'Steps']);
    expect(templateInputs('no actions, "a.B"')).toEqual([]);
  });

  it('lists the built-in modules with their inputs and prices, and checks a job\'s inputs', async () => {
    const catalog = await loadCatalog();
    const cowsay = catalog.find('cowsay:v0.0.1');
    expect(cowsay).toMatchObject({ name: 'cowsay', ref: 'cowsay:v0.0.1', inputs: ['Message'], credits: 1 });
    expect(catalog.find('cowsay').ref).toBe('cowsay:v0.0.1');
    expect(() => catalog.find('cowsay:v9')).toThrow(/unknown module "cowsay:v9": the studio runs cowsay:v0.0.1, llm:v1, lora-inference:v1, lora-training:v1, spin:v0.0.1/);
    expect(checkInputs(cowsay, { Message: 'moo' })).toEqual({ Message: 'moo' });
    expect(() => checkInputs(cowsay, { Message: 'moo', Other: 'x' })).toThrow('module cowsay:v0.0.1 has no input Other; its inputs are Message');
    expect(() => checkInputs(cowsay, { Message: 3 })).toThrow('input Message must be a string');
    expect(() => checkInputs(cowsay, ['moo'])).toThrow(/inputs must be an object/);
  });
});
