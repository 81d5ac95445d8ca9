import { describe, expect, it } from 'vitest';
import { parseInputDeclarations } from '../module/inputs.js';
import { exampleInputs, inputField } from './module-form.js';

const declarations = parseInputDeclarations(
  [
    { name: 'Prompt', type: 'string', description: 'The text <to> continue', required: true, maxLength: 500 },
    { name: 'MaxTokens', type: 'integer', description: 'How many tokens', default: 64, min: 1, max: 256 },
    { name: 'Temperature', type: 'number', description: 'Randomness', default: 0.5, min: 0, max: 2 },
    { name: 'Shout', type: 'boolean', description: 'Upper case', default: true },
    { name: 'Animal', type: 'enum', description: 'Who speaks', values: ['cow', 'dragon', 'tux'], default: 'dragon' },
    { name: 'Voice', type: 'enum', description: 'How', values: ['low', 'high'] },
    { name: 'DataCID', type: 'cid', description: 'The data', required: true },
  ],
  'form:v1',
)!;
const field = async (name: string) => String(await inputField(declarations.find((d) => d.name === name)!)).replace(/\s+/g, ' ');

describe('a module form made from its declared inputs', () => {
  it('renders each input by its type, prefilled with its default, the required ones marked', async () => {
    expect(await field('Prompt')).toContain('<label for="input-Prompt">Prompt <span class="required">required</span></label>');
    expect(await field('Prompt')).toContain('<textarea id="input-Prompt" name="input.Prompt" rows="2" maxlength="500" required aria-describedby="input-Prompt-help"></textarea>');
    expect(await field('Prompt')).toContain('<small class="muted" id="input-Prompt-help">The text &lt;to&gt; continue (text, at most 500 characters)</small>');
    expect(await field('MaxTokens')).toContain('<input type="number" id="input-MaxTokens" name="input.MaxTokens" value="64" step="1" min="1" max="256" aria-describedby="input-MaxTokens-help">');
    expect(await field('MaxTokens')).toContain('How many tokens (a whole number, 1 to 256)');
    expect(await field('MaxTokens')).not.toContain('required');
    expect(await field('Temperature')).toContain('<input type="number" id="input-Temperature" name="input.Temperature" value="0.5" step="any" min="0" max="2"');
    // An unchecked box still sends a value: false, from the hidden field before it.
    expect(await field('Shout')).toContain('<input type="hidden" name="input.Shout" value="false"><input type="checkbox" id="input-Shout" name="input.Shout" value="true" checked');
    expect(await field('Animal')).toContain('<select id="input-Animal" name="input.Animal" aria-describedby="input-Animal-help"><option>cow</option><option selected>dragon</option><option>tux</option></select>');
    // An optional choice without a default can be left out.
    expect(await field('Voice')).toContain('<select id="input-Voice" name="input.Voice" aria-describedby="input-Voice-help"><option value=""></option><option>low</option><option>high</option></select>');
    // Chosen files stand in for a required CID, so the browser does not insist on the text.
    expect(await field('DataCID')).toContain('<input type="text" id="input-DataCID" name="input.DataCID" value="" placeholder="bafy..." spellcheck="false" autocomplete="off" list="input-DataCID-uploads" aria-describedby="input-DataCID-help">');
    expect(await field('DataCID')).toContain('<input type="file" name="upload.DataCID" multiple data-upload-for="input-DataCID">');
    expect(await field('DataCID')).toContain('The data (a CID, such as bafy... or another job&#39;s result; or files to upload, which take the place of the CID: one file, or several for a folder of them)');
  });

  it('offers a cid input one\'s recent uploads to pick from, their names escaped', async () => {
    const dataCid = declarations.find((d) => d.name === 'DataCID')!;
    const rendered = String(await inputField(dataCid, [{ cid: 'bafkreiexample', name: '<b>notes</b>.txt', size: 12, createdAt: 0 }]));
    expect(rendered).toContain('<datalist id="input-DataCID-uploads"><option value="bafkreiexample">&lt;b&gt;notes&lt;/b&gt;.txt (12 bytes)</option></datalist>');
  });

  it('gives the curl example the required inputs, each with a value of its type', () => {
    expect(exampleInputs(declarations)).toEqual({ Prompt: '...', DataCID: 'bafy...' });
  });
});
