/**
 * A module's form on its page, made from the inputs it declares (`module/inputs.ts`): one control per input by
 * its type (a number field with its bounds and step, a checkbox, a select of the choices, a text area, a CID
 * field with a file picker beside it, and one's recent uploads to pick from), prefilled with the default, the required ones marked, and each input's description and bounds beside
 * it; and the inputs of the page's curl example.
 */
import { html, raw } from 'hono/html';
import { typedDefault, type InputDeclaration } from '../module/inputs.js';
import type { Upload } from './store.js';

/** An input's kind and bounds or choices in words, beside its description: "a whole number, 1 to 256". */
function inputHint(input: InputDeclaration): string {
  const bounds = input.min !== undefined && input.max !== undefined ? `, ${input.min} to ${input.max}`
    : input.min !== undefined ? `, at least ${input.min}` : input.max !== undefined ? `, at most ${input.max}` : '';
  if (input.type === 'cid') return 'a CID, such as bafy... or another job\'s result; or files to upload, which take the place of the CID: one file, or several for a folder of them';
  if (input.type === 'string') return input.maxLength !== undefined ? `text, at most ${input.maxLength} characters` : 'text';
  if (input.type === 'enum') return `one of ${input.values!.join(', ')}`;
  return `${input.type === 'number' ? 'a number' : input.type === 'integer' ? 'a whole number' : 'true or false'}${bounds}`;
}

/**
 * One form control per declared input, by its type, prefilled with its default; the required ones marked. A cid
 * input also takes files (`upload.<name>`, added on the run; the form then posts multipart) and offers `recentUploads`.
 */
export function inputField(input: InputDeclaration, recentUploads: readonly Upload[] = []) {
  const id = `input-${input.name}`;
  const name = `input.${input.name}`;
  const fallback = typedDefault(input);
  const value = fallback === undefined ? '' : String(fallback);
  const required = input.required ? raw(' required') : '';
  const help = `${input.description} (${inputHint(input)})`;
  const described = raw(` aria-describedby="${id}-help"`);
  let control;
  switch (input.type) {
    case 'integer':
    case 'number':
      control = html`<input type="number" id="${id}" name="${name}" value="${value}" step="${input.type === 'integer' ? '1' : 'any'}"${input.min !== undefined ? html` min="${input.min}"` : ''}${input.max !== undefined ? html` max="${input.max}"` : ''}${required}${described}>`;
      break;
    case 'boolean':
      // An unchecked box sends nothing, which would mean "the default": the hidden field sends false instead.
      control = html`<input type="hidden" name="${name}" value="false"><input type="checkbox" id="${id}" name="${name}" value="true"${fallback === true ? raw(' checked') : ''}${described}>`;
      break;
    case 'enum':
      control = html`<select id="${id}" name="${name}"${required}${described}>${input.required || fallback !== undefined ? '' : html`<option value=""></option>`}${input.values!.map((choice) => html`<option${choice === value ? raw(' selected') : ''}>${choice}</option>`)}</select>`;
      break;
    case 'cid':
      // Not `required` in the browser: chosen files stand in for the CID (the studio still says when neither is given).
      control = html`<input type="text" id="${id}" name="${name}" value="${value}" placeholder="bafy..." spellcheck="false" autocomplete="off" list="${id}-uploads"${described}>
          <datalist id="${id}-uploads">${recentUploads.map((upload) => html`<option value="${upload.cid}">${upload.name} (${upload.size} bytes)</option>`)}</datalist>
          <label class="upload">or upload <input type="file" name="upload.${input.name}" multiple data-upload-for="${id}"></label>`;
      break;
    case 'string':
      control = html`<textarea id="${id}" name="${name}" rows="2"${input.maxLength !== undefined ? html` maxlength="${input.maxLength}"` : ''}${required}${described}>${value}</textarea>`;
      break;
  }
  return html`<div class="field" data-input="${input.name}" data-type="${input.type}">
          <label for="${id}">${input.name}${input.required ? html` <span class="required">required</span>` : ''}</label>
          ${control}
          <small class="muted" id="${id}-help">${help}</small>
        </div>`;
}

/** A value for the page's curl example: the default, or a stand-in of the input's type. */
function exampleValue(input: InputDeclaration): unknown {
  const fallback = typedDefault(input);
  if (fallback !== undefined) return fallback;
  if (input.name === 'Message') return 'moo';
  if (input.type === 'integer' || input.type === 'number') return input.min ?? 1;
  if (input.type === 'boolean') return true;
  if (input.type === 'enum') return input.values![0];
  if (input.type === 'cid') return 'bafy...';
  return '...';
}

/** The inputs of a module page's curl example: the required ones, each with a value of its type. */
export function exampleInputs(inputs: readonly InputDeclaration[]): Record<string, unknown> {
  return Object.fromEntries(inputs.filter((input) => input.required).map((input) => [input.name, exampleValue(input)]));
}
