import { describe, expect, it } from 'vitest';
import { templateInputNames } from '../module/inputs.js';
import { checkInputs, loadCatalog } from './catalog.js';

describe('the studio\'s catalog', () => {
  it('finds the inputs a template reads', () => {
    expect(templateInputNames('"Parameters": [{{ .Message }}]')).toEqual(['Message']);
    expect(templateInputNames('{{- or .Seed "42" -}} {{.Prompt}} {{ if .Steps }}{{ .Steps }}{{ end }} {{ .Prompt }}')).toEqual(['Seed', 'Prompt', 'Steps']);
    expect(templateInputNames('no actions, "a.B"')).toEqual([]);
  });

  it('lists the built-in modules with their declared inputs and prices, and checks a job\'s inputs', async () => {
    const catalog = await loadCatalog();
    const cowsay = catalog.find('cowsay:v0.0.1');
    expect(cowsay).toMatchObject({ name: 'cowsay', ref: 'cowsay:v0.0.1', inputs: [{ name: 'Message', type: 'string', description: 'What the cow says', required: true }], credits: 1 });
    expect(catalog.find('cowsay').ref).toBe('cowsay:v0.0.1');
    expect(() => catalog.find('cowsay:v9')).toThrow(/unknown module "cowsay:v9": the studio runs cowsay:v0.0.1, llm:v1, lora-inference:v1, lora-training:v1, spin:v0.0.1/);
    expect(checkInputs(cowsay, { Message: 'moo' })).toEqual({ Message: 'moo' });
    expect(() => checkInputs(cowsay, { Message: 'moo', Other: 'x' })).toThrow('Other: cowsay:v0.0.1 has no such input; its inputs are Message');
    expect(() => checkInputs(cowsay, { Message: { text: 'moo' } })).toThrow('Message: an object is not text');
    expect(() => checkInputs(cowsay, ['moo'])).toThrow(/inputs must be an object/);
    // Typed inputs take JSON numbers, and come back as the canonical text the template receives, defaults filled in.
    const llm = catalog.find('llm');
    expect(checkInputs(llm, { Prompt: 'The lily', MaxTokens: 16, Temperature: '0.50' })).toEqual({
      Prompt: 'The lily', Seed: '42', MaxTokens: '16', Temperature: '0.5', WeightsCID: llm.inputs.find((input) => input.name === 'WeightsCID')!.default,
    });
    expect(() => checkInputs(llm, { Prompt: 'hi', MaxTokens: 300, Temperature: 3 })).toThrow('MaxTokens: 300 is more than the most, 256\nTemperature: 3 is more than the most, 2');
  });
});
