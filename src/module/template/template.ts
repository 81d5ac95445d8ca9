/**
 * A subset of Go's text/template, enough for module templates that print inputs and pick defaults:
 * text, comments, trim markers, `{{ .Field }}`, and `if`/`else`/`end` on a field. Anything else is a
 * clear parse error naming the line and column, as Go's errors do. (The full engine is its own work.)
 *
 * `missing` collects the fields that were printed without a value, so that a caller can say which
 * input a template needs instead of emitting Go's `<no value>`.
 */
import { ModuleError } from '../../lib/errors.js';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'field'; name: string; line: number; col: number }
  | { kind: 'if'; name: string; then: Node[]; otherwise: Node[] };

interface Action {
  body: string;
  line: number;
  col: number;
}

export interface RenderResult {
  output: string;
  /** Fields printed with no value, in order of first use. */
  missing: string[];
}

export class TemplateError extends ModuleError {
  override name = 'TemplateError';
}

function position(source: string, offset: number): { line: number; col: number } {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - before.lastIndexOf('\n');
  return { line, col };
}

/** Splits the source into text and actions, applying `{{-` and `-}}` trimming. */
function lex(templateName: string, source: string): Array<string | Action> {
  const items: Array<string | Action> = [];
  let offset = 0;
  let trimNextText = false;
  while (offset <= source.length) {
    const open = source.indexOf('{{', offset);
    let text = source.slice(offset, open === -1 ? undefined : open);
    if (trimNextText) text = text.replace(/^\s+/, '');
    trimNextText = false;
    if (open === -1) {
      if (text) items.push(text);
      break;
    }
    const trimLeft = source.startsWith('{{- ', open) || source.startsWith('{{-\n', open) || source.startsWith('{{-\t', open);
    if (trimLeft) text = text.replace(/\s+$/, '');
    if (text) items.push(text);
    const close = source.indexOf('}}', open + 2);
    const { line, col } = position(source, open);
    if (close === -1) throw new TemplateError(`template: ${templateName}:${line}:${col}: unclosed action`, { code: 'template-parse' });
    let body = source.slice(open + 2, close);
    if (trimLeft) body = body.slice(1);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      trimNextText = true;
    }
    items.push({ body: body.trim(), line, col });
    offset = close + 2;
  }
  return items;
}

export function parseTemplate(templateName: string, source: string): Node[] {
  const items = lex(templateName, source);
  let index = 0;
  const fail = (action: Action, message: string): never => {
    throw new TemplateError(`template: ${templateName}:${action.line}:${action.col}: ${message}`, { code: 'template-parse' });
  };
  const fieldName = (action: Action, expression: string): string => {
    const match = /^\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expression);
    if (!match) return fail(action, `unsupported expression "${expression}" (supported: .Field, if, else, end, comments)`);
    return match[1]!;
  };

  // Parses until `end` or `else` (returned so the caller knows which) or the end of input.
  const parseList = (insideIf: boolean): { nodes: Node[]; stop?: 'else' | 'end'; at?: Action } => {
    const nodes: Node[] = [];
    while (index < items.length) {
      const item = items[index++]!;
      if (typeof item === 'string') {
        nodes.push({ kind: 'text', text: item });
        continue;
      }
      const body = item.body;
      if (body.startsWith('/*')) {
        if (!body.endsWith('*/')) fail(item, 'unclosed comment');
        continue;
      }
      if (body === 'end' || body === 'else') {
        if (!insideIf) fail(item, `unexpected {{${body}}}`);
        return { nodes, stop: body, at: item };
      }
      if (body.startsWith('if ')) {
        const name = fieldName(item, body.slice(3).trim());
        const then = parseList(true);
        let otherwise: Node[] = [];
        if (then.stop === 'else') {
          const rest = parseList(true);
          if (rest.stop !== 'end') fail(item, 'unexpected EOF: if has no end');
          if (rest.stop === 'end') otherwise = rest.nodes;
        } else if (then.stop !== 'end') {
          fail(item, 'unexpected EOF: if has no end');
        }
        nodes.push({ kind: 'if', name, then: then.nodes, otherwise });
        continue;
      }
      nodes.push({ kind: 'field', name: fieldName(item, body), line: item.line, col: item.col });
    }
    return { nodes };
  };
  return parseList(false).nodes;
}

/** Renders with Go's default for a missing key (`<no value>`), recording which fields were missing. */
export function renderTemplate(templateName: string, source: string, data: Record<string, string>): RenderResult {
  const nodes = parseTemplate(templateName, source);
  const missing: string[] = [];
  let output = '';
  const walk = (list: Node[]) => {
    for (const node of list) {
      if (node.kind === 'text') output += node.text;
      else if (node.kind === 'field') {
        if (Object.hasOwn(data, node.name)) output += data[node.name];
        else {
          output += '<no value>';
          if (!missing.includes(node.name)) missing.push(node.name);
        }
      } else {
        // Go's truth: an empty string or a missing key is false.
        const value = Object.hasOwn(data, node.name) ? data[node.name] : '';
        walk(value ? node.then : node.otherwise);
      }
    }
  };
  walk(nodes);
  return { output, missing };
}
