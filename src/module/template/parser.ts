/**
 * The parser of Go's text/template (text/template/parse/parse.go): the same grammar, the same checks at
 * parse time (undefined functions and variables, {{break}} outside {{range}}) and the same messages.
 */
import { TemplateError } from './errors.js';
import { itemString, lex, type Item, type ItemType } from './lexer.js';
import type { ArgNode, BranchNode, CommandNode, ListNode, Node, NumberNode, PipeNode } from './nodes.js';
import { nodeString } from './nodes.js';

export interface ParsedTemplate {
  /** The name of the template being parsed (Go's ParseName). */
  name: string;
  source: string;
  root: ListNode;
  /** Templates defined with define or block, by name. */
  defined: Map<string, ListNode>;
}

/** Go's strconv.Unquote for "..." and `...` literals. Returns undefined when malformed. */
export function goUnquote(quoted: string): string | undefined {
  if (quoted.startsWith('`')) return quoted.endsWith('`') && quoted.length >= 2 ? quoted.slice(1, -1).replace(/\r/g, '') : undefined;
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined;
  const body = quoted.slice(1, -1);
  if (!body.includes('\\')) return body;
  const bytes: number[] = [];
  const pushString = (s: string) => {
    for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
  };
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushString(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };
    if (e !== undefined && Object.hasOwn(simple, e)) bytes.push(simple[e]!);
    else if (e === 'x') {
      const hex = body.slice(i, i + 2);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = body.slice(i, i + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return undefined;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
      pushString(String.fromCodePoint(cp));
      i += n;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const oct = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(oct)) return undefined;
      const v = parseInt(oct, 8);
      if (v > 255) return undefined;
      bytes.push(v);
      i += 2;
    } else return undefined;
  }
  return Buffer.from(bytes).toString('utf8');
}

function unquoteChar(text: string): number | undefined {
  if (text.length < 3 || !text.startsWith("'") || !text.endsWith("'")) return undefined;
  const body = text.slice(1, -1);
  if (!body.startsWith('\\')) {
    const cp = body.codePointAt(0)!;
    return String.fromCodePoint(cp).length === body.length ? cp : undefined;
  }
  if (body === "\\'") return 39;
  if (body === '\\"') return undefined;
  const s = goUnquote(`"${body}"`);
  if (s === undefined) return undefined;
  if (/^\\x|^\\[0-7]/.test(body)) return Buffer.from(s, 'latin1').length === 1 ? s.charCodeAt(0) : s.codePointAt(0);
  const cp = s.codePointAt(0);
  return cp !== undefined && String.fromCodePoint(cp).length === s.length ? cp : undefined;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function parseGoInt(text: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (!m) return undefined;
  let body = m[2]!;
  if (/__|_$/.test(body) || /^[1-9]/.test(body) === false && /^0[0-7]/.test(body) && body.includes('_') && false) return undefined;
  if (/^0[xXoObB]_?$/.test(body)) return undefined;
  body = body.replace(/_/g, '');
  let value: bigint;
  if (/^0[0-7]+$/.test(body)) value = BigInt('0o' + body.slice(1));
  else value = BigInt(body);
  return m[1] === '-' ? -value : value;
}

function parseGoFloat(text: string): number | undefined {
  const t = text.replace(/_/g, '');
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(t);
  if (hex && (hex[2] || hex[3])) {
    const mantissa = parseInt((hex[2] || '0') + (hex[3] || ''), 16) / 16 ** (hex[3] ?? '').length;
    const v = mantissa * 2 ** Number(hex[4]);
    return hex[1] === '-' ? -v : v;
  }
  return undefined;
}

export function newNumber(pos: number, text: string, type: ItemType): NumberNode | string {
  const n: NumberNode = { type: 'number', pos, text, isInt: false, isUint: false, isFloat: false, int: 0n, float: 0 };
  if (type === 'charConstant') {
    const rune = unquoteChar(text);
    if (text === "''") return 'invalid syntax';
    if (rune === undefined) return `malformed character constant: ${text}`;
    n.int = BigInt(rune);
    n.isInt = n.isUint = n.isFloat = true;
    n.float = rune;
    return n;
  }
  if (type === 'complex') return `illegal number syntax: ${JSON.stringify(text)}`;
  if (text.endsWith('i')) return `illegal number syntax: ${JSON.stringify(text)}`;
  const i = parseGoInt(text);
  if (i !== undefined) {
    if (i >= 0n && i <= UINT64_MAX) {
      n.isUint = true;
      n.int = i;
    }
    if (i >= INT64_MIN && i <= INT64_MAX) {
      n.isInt = true;
      n.int = i;
    }
  }
  if (n.isInt || n.isUint) {
    n.isFloat = true;
    n.float = Number(n.int);
  } else {
    const f = parseGoFloat(text);
    if (f !== undefined && Number.isFinite(f)) {
      if (!/[.eEpP]/.test(text)) return `integer overflow: ${JSON.stringify(text)}`;
      n.isFloat = true;
      n.float = f;
      if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) {
        n.isInt = true;
        n.int = BigInt(f);
      }
    }
  }
  if (!n.isInt && !n.isUint && !n.isFloat) return `illegal number syntax: ${JSON.stringify(text)}`;
  return n;
}

/**
 * How deep actions may nest ({{if}}, {{range}}, {{with}}, {{else if}}, {{block}}, {{define}}) and how deep
 * parentheses may go. The parser recurses on both, so without a bound a hostile template would end it with a
 * stack overflow; Go's parser bounds expressions the same way (maxStackDepth, 1000 on WebAssembly).
 */
export const MAX_PARSE_DEPTH = 1000;

class Parser {
  private items: Item[];
  /** Nested actions and parentheses together: both are levels of the parser's recursion. */
  private depth = 0;
  private index = 0;
  private lastToken: Item;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private actionLine = 0;

  constructor(
    private readonly name: string,
    source: string,
    private readonly hasFunction: (name: string) => boolean,
    private readonly defined: Map<string, ListNode>,
  ) {
    this.items = lex(source);
    this.lastToken = this.items[0]!;
  }

  private errorf(message: string): never {
    throw new TemplateError(`template: ${this.name}:${this.lastToken.line}: ${message}`, { code: 'template-parse' });
  }
  private next(): Item {
    const item = this.items[Math.min(this.index, this.items.length - 1)]!;
    this.index++;
    this.lastToken = item;
    return item;
  }
  private backup(n = 1) {
    this.index -= n;
  }
  private peek(): Item {
    const item = this.items[Math.min(this.index, this.items.length - 1)]!;
    this.lastToken = item;
    return item;
  }
  private nextNonSpace(): Item {
    let item: Item;
    do item = this.next();
    while (item.type === 'space');
    return item;
  }
  private peekNonSpace(): Item {
    const item = this.nextNonSpace();
    this.backup();
    return item;
  }
  private unexpected(item: Item, context: string): never {
    if (item.type === 'error') {
      let extra = this.actionLine !== 0 && this.actionLine !== item.line ? ` in action started at ${this.name}:${this.actionLine}` : '';
      if (extra && item.val.endsWith(' action')) extra = extra.slice(' in action'.length);
      this.errorf(`${item.val}${extra}`);
    }
    this.errorf(`unexpected ${itemString(item)} in ${context}`);
  }
  private expect(type: ItemType, context: string): Item {
    const item = this.nextNonSpace();
    if (item.type !== type) this.unexpected(item, context);
    return item;
  }

  parse(): ListNode {
    const root: ListNode = { type: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const mark = this.index;
        this.next();
        if (this.nextNonSpace().type === 'define') {
          this.parseDefinition();
          continue;
        }
        this.index = mark;
      }
      const n = this.textOrAction();
      if (n === undefined) continue;
      if (n.type === 'end' || n.type === 'else') this.errorf(`unexpected ${nodeString(n)}`);
      root.nodes.push(n);
    }
    return root;
  }

  private withFreshScope<T>(fn: () => T): T {
    const saved = { vars: this.vars, rangeDepth: this.rangeDepth };
    this.vars = ['$'];
    this.rangeDepth = 0;
    try {
      return fn();
    } finally {
      this.vars = saved.vars;
      this.rangeDepth = saved.rangeDepth;
    }
  }

  private addTemplate(name: string, list: ListNode) {
    const existing = this.defined.get(name);
    if (existing === undefined || isEmptyTree(existing)) this.defined.set(name, list);
    else if (!isEmptyTree(list)) this.errorf(`template: multiple definition of template ${JSON.stringify(name)}`);
  }

  private parseDefinition() {
    const context = 'define clause';
    const token = this.nextNonSpace();
    if (token.type !== 'string' && token.type !== 'rawString') this.unexpected(token, context);
    const name = goUnquote(token.val);
    if (name === undefined) this.errorf('invalid syntax');
    this.expect('rightDelim', context);
    this.withFreshScope(() => {
      const { list, next } = this.itemList();
      if (next.type !== 'end') this.errorf(`unexpected ${nodeString(next)} in ${context}`);
      this.addTemplate(name, list);
    });
  }

  private itemList(): { list: ListNode; next: Node } {
    if (this.depth >= MAX_PARSE_DEPTH) this.errorf(`max nesting depth exceeded: actions and parentheses nest more than ${MAX_PARSE_DEPTH} deep`);
    this.depth++;
    try {
      const list: ListNode = { type: 'list', pos: this.peekNonSpace().pos, nodes: [] };
      while (this.peekNonSpace().type !== 'eof') {
        const n = this.textOrAction();
        if (n === undefined) continue;
        if (n.type === 'end' || n.type === 'else') return { list, next: n };
        list.nodes.push(n);
      }
      this.errorf('unexpected EOF');
    } finally {
      this.depth--;
    }
  }

  private textOrAction(): Node | undefined {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'text':
        return { type: 'text', pos: token.pos, text: token.val };
      case 'leftDelim': {
        this.actionLine = token.line;
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      }
      case 'comment':
        return undefined;
      default:
        this.unexpected(token, 'input');
    }
  }

  private action(): Node {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'block':
        return this.blockControl();
      case 'break':
      case 'continue': {
        const after = this.nextNonSpace();
        if (after.type !== 'rightDelim') this.unexpected(after, `{{${token.type}}}`);
        if (this.rangeDepth === 0) this.errorf(`{{${token.type}}} outside {{range}}`);
        return { type: token.type, pos: token.pos, line: token.line };
      }
      case 'else': {
        const peek = this.peekNonSpace();
        if (peek.type === 'if' || peek.type === 'with') return { type: 'else', pos: peek.pos, line: peek.line };
        const t = this.expect('rightDelim', 'else');
        return { type: 'else', pos: t.pos, line: t.line };
      }
      case 'end': {
        const t = this.expect('rightDelim', 'end');
        return { type: 'end', pos: t.pos, line: t.line };
      }
      case 'if':
      case 'range':
      case 'with':
        return this.parseControl(token.type);
      case 'template':
        return this.templateControl();
    }
    this.backup();
    const t = this.peek();
    return { type: 'action', pos: t.pos, line: t.line, pipe: this.pipeline('command', 'rightDelim') };
  }

  private parseControl(context: 'if' | 'range' | 'with'): BranchNode {
    const varCount = this.vars.length;
    try {
      const pipe = this.pipeline(context, 'rightDelim');
      if (context === 'range') this.rangeDepth++;
      let { list, next } = this.itemList();
      if (context === 'range') this.rangeDepth--;
      let elseList: ListNode | undefined;
      if (next.type === 'else') {
        if ((context === 'if' && this.peek().type === 'if') || (context === 'with' && this.peek().type === 'with')) {
          this.next();
          elseList = { type: 'list', pos: next.pos, nodes: [this.parseControl(context)] };
        } else {
          ({ list: elseList, next } = this.itemList());
          if (next.type !== 'end') this.errorf(`expected end; found ${nodeString(next)}`);
        }
      }
      return { type: context, pos: pipe.pos, line: pipe.line, pipe, list, elseList };
    } finally {
      this.vars.length = varCount;
    }
  }

  private parseTemplateName(token: Item, context: string): string {
    if (token.type !== 'string' && token.type !== 'rawString') this.unexpected(token, context);
    const name = goUnquote(token.val);
    if (name === undefined) this.errorf('invalid syntax');
    return name;
  }

  private blockControl(): Node {
    const context = 'block clause';
    const token = this.nextNonSpace();
    const name = this.parseTemplateName(token, context);
    const pipe = this.pipeline(context, 'rightDelim');
    this.withFreshScope(() => {
      const { list, next } = this.itemList();
      if (next.type !== 'end') this.errorf(`unexpected ${nodeString(next)} in ${context}`);
      this.addTemplate(name, list);
    });
    return { type: 'template', pos: token.pos, line: token.line, name, pipe };
  }

  private templateControl(): Node {
    const context = 'template clause';
    const token = this.nextNonSpace();
    const name = this.parseTemplateName(token, context);
    let pipe: PipeNode | undefined;
    if (this.nextNonSpace().type !== 'rightDelim') {
      this.backup();
      pipe = this.pipeline(context, 'rightDelim');
    }
    return { type: 'template', pos: token.pos, line: token.line, name, pipe };
  }

  private pipeline(context: string, end: ItemType): PipeNode {
    const token = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: token.pos, line: token.line, isAssign: false, decl: [], cmds: [] };
    decls: for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== 'variable') break;
      const mark = this.index;
      this.nextNonSpace();
      const tokenAfterVariable = this.peek();
      const next = this.peekNonSpace();
      if (next.type === 'assign' || next.type === 'declare') {
        pipe.isAssign = next.type === 'assign';
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
      } else if (next.type === 'char' && next.val === ',') {
        this.nextNonSpace();
        pipe.decl.push(v.val);
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace().type;
          if (p === 'variable' || p === 'rightDelim' || p === 'rightParen') continue decls;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      } else {
        this.index = mark;
        void tokenAfterVariable;
      }
      break;
    }
    for (;;) {
      const token = this.nextNonSpace();
      if (token.type === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (token.type) {
        case 'bool': case 'charConstant': case 'complex': case 'dot': case 'field': case 'identifier':
        case 'number': case 'nil': case 'rawString': case 'string': case 'variable': case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(token, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string) {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]!.type;
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        this.errorf(`non executable command in pipeline stage ${i + 2}`);
      }
    });
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand !== undefined) cmd.args.push(operand);
      const token = this.next();
      if (token.type === 'space') continue;
      if (token.type === 'rightDelim' || token.type === 'rightParen') this.backup();
      else if (token.type !== 'pipe') this.unexpected(token, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): ArgNode | undefined {
    let node = this.term();
    if (node === undefined) return undefined;
    if (this.peek().type === 'field') {
      const chainPos = this.peek().pos;
      const fields: string[] = [];
      while (this.peek().type === 'field') fields.push(this.next().val.slice(1));
      switch (node.type) {
        case 'field':
          node = { type: 'field', pos: chainPos, ident: [...node.ident, ...fields] };
          break;
        case 'variable':
          node = { type: 'variable', pos: chainPos, ident: [...node.ident, ...fields] };
          break;
        case 'bool': case 'string': case 'number': case 'nil': case 'dot':
          this.errorf(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
        default:
          node = { type: 'chain', pos: chainPos, node, field: fields };
      }
    }
    return node;
  }

  private term(): ArgNode | undefined {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'identifier':
        if (!this.hasFunction(token.val)) this.errorf(`function ${JSON.stringify(token.val)} not defined`);
        return { type: 'identifier', pos: token.pos, name: token.val };
      case 'dot':
        return { type: 'dot', pos: token.pos };
      case 'nil':
        return { type: 'nil', pos: token.pos };
      case 'variable': {
        const ident = token.val.split('.');
        if (!this.vars.includes(ident[0]!)) this.errorf(`undefined variable ${JSON.stringify(ident[0])}`);
        return { type: 'variable', pos: token.pos, ident };
      }
      case 'field':
        return { type: 'field', pos: token.pos, ident: [token.val.slice(1)] };
      case 'bool':
        return { type: 'bool', pos: token.pos, value: token.val === 'true' };
      case 'charConstant':
      case 'complex':
      case 'number': {
        const n = newNumber(token.pos, token.val, token.type);
        if (typeof n === 'string') this.errorf(n);
        return n;
      }
      case 'leftParen': {
        if (this.depth >= MAX_PARSE_DEPTH) this.errorf(`max expression depth exceeded: actions and parentheses nest more than ${MAX_PARSE_DEPTH} deep`);
        this.depth++;
        try {
          return this.pipeline('parenthesized pipeline', 'rightParen');
        } finally {
          this.depth--;
        }
      }
      case 'string':
      case 'rawString': {
        const text = goUnquote(token.val);
        if (text === undefined) this.errorf('invalid syntax');
        return { type: 'string', pos: token.pos, quoted: token.val, text };
      }
    }
    this.backup();
    return undefined;
  }
}

function isEmptyTree(list: ListNode): boolean {
  return list.nodes.every((n) => n.type === 'text' && n.text.trim() === '');
}

export function parse(name: string, source: string, hasFunction: (name: string) => boolean): ParsedTemplate {
  const defined = new Map<string, ListNode>();
  const parser = new Parser(name, source, hasFunction, defined);
  let root: ListNode;
  try {
    root = parser.parse();
  } catch (error) {
    // MAX_PARSE_DEPTH should come first; a smaller stack than expected still gets a one-line message.
    if (!(error instanceof RangeError && /call stack/i.test(error.message))) throw error;
    throw new TemplateError(`template: ${name}: max nesting depth exceeded (the parser ran out of stack)`, { code: 'template-parse' });
  }
  const existing = defined.get(name);
  if (existing === undefined || isEmptyTree(existing) || !isEmptyTree(root)) {
    if (existing !== undefined && !isEmptyTree(existing) && !isEmptyTree(root)) {
      throw new TemplateError(`template: ${name}:1: template: multiple definition of template ${JSON.stringify(name)}`, { code: 'template-parse' });
    }
    if (existing === undefined || !isEmptyTree(root)) defined.set(name, root);
  }
  return { name, source, root: defined.get(name)!, defined };
}
