/**
 * The executor of Go's text/template (text/template/exec.go): walks the parse tree with Go's rules for
 * dot, variables, fields and map keys, function calls, truth, range, break and continue, nested
 * templates, and Go's error messages ("template: NAME:LINE:COL: executing "NAME" at <NODE>: ...").
 */
import { TemplateError } from './errors.js';
import { goTypeName, printOne } from './format.js';
import { FuncError, isTrue, NO_VALUE, type ParamKind, type TemplateFunction, type Value } from './functions.js';
import type { ArgNode, BranchNode, CommandNode, ListNode, Node, NumberNode, PipeNode } from './nodes.js';
import { nodeString, type AnyNode } from './nodes.js';
import type { ParsedTemplate } from './parser.js';

export type MissingKey = 'default' | 'zero' | 'error';

export interface ExecOptions {
  missingKey?: MissingKey;
  /** The most nested {{template}} calls; Go allows 100000 natively and 1000 on WebAssembly. */
  maxDepth?: number;
  /** The most output, in UTF-16 units, before execution stops with an error. */
  maxOutput?: number;
  /** The most steps (nodes walked, range iterations) before execution stops with an error; a bound on work. */
  maxSteps?: number;
}

/** Far beyond any real module's template (a few hundred steps), and well under a second of work. */
export const DEFAULT_MAX_STEPS = 1_000_000;

/** A value and whether it sits in an interface{} (an element of a map or slice), which Go's messages show. */
interface Dot {
  v: Value;
  boxed: boolean;
}

const MISSING_FINAL = Symbol('missing final');

class ExecError extends Error {}
class BreakSignal {}
class ContinueSignal {}
const BREAK = new BreakSignal();
const CONTINUE = new ContinueSignal();

export interface ExecResult {
  output: string;
  missing: string[];
}

export function execute(
  tmpl: ParsedTemplate,
  data: Value,
  funcs: Record<string, TemplateFunction>,
  options: ExecOptions = {},
): ExecResult {
  const state = new State(tmpl, funcs, options, data);
  state.run();
  return { output: state.out.join(''), missing: state.missing };
}

class State {
  out: string[] = [];
  outLength = 0;
  missing: string[] = [];
  private node: AnyNode | undefined;
  private vars: Array<{ name: string; v: Dot }> = [];
  private depth = 0;
  private executing: string;
  private pendingMissing: string | undefined;
  private readonly missingKey: MissingKey;
  private readonly maxDepth: number;
  private readonly maxOutput: number;
  private readonly maxSteps: number;
  private steps = 0;

  constructor(
    private readonly tmpl: ParsedTemplate,
    private readonly funcs: Record<string, TemplateFunction>,
    options: ExecOptions,
    private readonly data: Value,
  ) {
    this.executing = tmpl.name;
    this.missingKey = options.missingKey ?? 'default';
    this.maxDepth = options.maxDepth ?? 1000;
    this.maxOutput = options.maxOutput ?? 64 * 1024 * 1024;
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  }

  /** Counts one unit of work; a template that loops for ever (or for 10^14 rounds) stops here. */
  private step() {
    if (++this.steps > this.maxSteps) this.errorf(`took more than ${this.maxSteps} steps; a template must do bounded work`);
  }

  run() {
    const dot: Dot = { v: this.data === undefined ? NO_VALUE : this.data, boxed: false };
    if (dot.v === null) dot.v = NO_VALUE;
    this.vars = [{ name: '$', v: dot }];
    try {
      this.walk(dot, this.tmpl.root);
    } catch (error) {
      if (error instanceof ExecError) throw new TemplateError(error.message, { code: 'template-exec' });
      if (error instanceof RangeError && /call stack/i.test(error.message)) {
        throw new TemplateError(this.format('exceeded maximum template depth (stack)'), { code: 'template-exec' });
      }
      throw error;
    }
  }

  private at(node: AnyNode) {
    this.node = node;
  }

  private format(message: string): string {
    const node = this.node;
    if (node === undefined) return `template: ${this.executing}: ${message}`;
    const text = this.tmpl.source.slice(0, node.pos);
    const nl = text.lastIndexOf('\n');
    const lineNum = 1 + (text.match(/\n/g)?.length ?? 0);
    const col = nl === -1 ? Buffer.byteLength(text, 'utf8') : Buffer.byteLength(text.slice(nl + 1), 'utf8');
    return `template: ${this.tmpl.name}:${lineNum}:${col}: executing ${JSON.stringify(this.executing)} at <${nodeString(node)}>: ${message}`;
  }

  private errorf(message: string): never {
    throw new ExecError(this.format(message));
  }

  private write(s: string) {
    this.out.push(s);
    this.outLength += s.length;
    if (this.outLength > this.maxOutput) this.errorf(`output larger than ${this.maxOutput} characters`);
  }

  private varValue(name: string): Dot {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.v;
    return this.errorf(`undefined variable: ${name}`);
  }
  private setVar(name: string, v: Dot) {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.v = v;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private walk(dot: Dot, node: Node): void {
    this.at(node);
    this.step();
    switch (node.type) {
      case 'action': {
        this.pendingMissing = undefined;
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
      case 'if':
      case 'with':
        this.walkIfOrWith(dot, node);
        return;
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'template':
        this.walkTemplate(dot, node);
        return;
      case 'text':
        this.write(node.text);
        return;
      default:
        this.errorf(`unknown node: ${nodeString(node)}`);
    }
  }

  private walkIfOrWith(dot: Dot, node: BranchNode) {
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      const truth = isTrue(val.v);
      if (truth) {
        if (node.type === 'with') this.walk(val, node.list);
        else this.walk(dot, node.list);
      } else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: Dot, node: BranchNode) {
    this.at(node);
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      const pipeMark = this.vars.length;
      const oneIteration = (index: Dot, elem: Dot): boolean => {
        if (node.pipe.decl.length > 0) {
          if (node.pipe.isAssign) {
            if (node.pipe.decl.length > 1) {
              this.setVar(node.pipe.decl[0]!, index);
              this.setVar(node.pipe.decl[1]!, elem);
            } else this.setVar(node.pipe.decl[0]!, elem);
          } else {
            // the declared variables were pushed by evalPipeline: the last one or two slots.
            if (node.pipe.decl.length > 1) {
              this.vars[pipeMark - 2]!.v = index;
              this.vars[pipeMark - 1]!.v = elem;
            } else this.vars[pipeMark - 1]!.v = elem;
          }
        }
        const inner = this.vars.length;
        this.step();
        try {
          this.walk(elem, node.list);
        } catch (signal) {
          if (signal === BREAK) return false;
          if (signal !== CONTINUE) throw signal;
        } finally {
          this.vars.length = inner;
        }
        return true;
      };
      const v = val.v;
      let ran = false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          ran = true;
          const e = v[i];
          if (!oneIteration({ v: BigInt(i), boxed: false }, { v: e === undefined ? null : e, boxed: true })) break;
        }
      } else if (typeof v === 'bigint') {
        if (node.pipe.decl.length > 1) this.errorf(`can't use ${v} to iterate over more than one variable`);
        for (let i = 0n; i < v; i++) {
          ran = true;
          if (!oneIteration({ v: i, boxed: false }, { v: i, boxed: false })) break;
        }
      } else if (v !== NO_VALUE && v !== null && typeof v === 'object') {
        const map = v as Record<string, Value>;
        const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        for (const key of keys) {
          ran = true;
          if (!oneIteration({ v: key, boxed: false }, { v: map[key] === undefined ? null : map[key], boxed: true })) break;
        }
      } else if (v !== NO_VALUE && v !== null) {
        this.errorf(`range can't iterate over ${printOne(v)}`);
      }
      if (!ran && node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkTemplate(dot: Dot, node: Node & { type: 'template' }) {
    this.at(node);
    const tmpl = this.tmpl.defined.get(node.name);
    if (tmpl === undefined) this.errorf(`template ${JSON.stringify(node.name)} not defined`);
    if (this.depth >= this.maxDepth) this.errorf(`exceeded maximum template depth (${this.maxDepth})`);
    const newDot = node.pipe ? this.evalPipeline(dot, node.pipe) : { v: NO_VALUE, boxed: false };
    const saved = { vars: this.vars, executing: this.executing };
    this.depth++;
    this.executing = node.name;
    this.vars = [{ name: '$', v: newDot }];
    try {
      this.walk(newDot, tmpl);
    } finally {
      this.depth--;
      this.vars = saved.vars;
      this.executing = saved.executing;
    }
  }

  private evalPipeline(dot: Dot, pipe: PipeNode): Dot {
    this.at(pipe);
    let value: Dot | typeof MISSING_FINAL = MISSING_FINAL;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      // An interface{} is unwrapped to what it holds; a nil one becomes no value.
      if (value.boxed) value = { v: value.v === null ? NO_VALUE : value.v, boxed: false };
    }
    const result = value as Dot;
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, result);
      else this.vars.push({ name, v: result });
    }
    return result;
  }

  private notAFunction(args: ArgNode[], final: Dot | typeof MISSING_FINAL) {
    if (args.length > 1 || final !== MISSING_FINAL) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  private evalCommand(dot: Dot, cmd: CommandNode, final: Dot | typeof MISSING_FINAL): Dot {
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return { v: first.value, boxed: false };
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return { v: this.idealConstant(first), boxed: false };
      case 'string':
        return { v: first.text, boxed: false };
    }
    return this.errorf(`can't evaluate command ${JSON.stringify(nodeString(first))}`);
  }

  private idealConstant(n: NumberNode): Value {
    this.at(n);
    const isHexInt = /^[+-]?0[xX]/.test(n.text) && !/[pP]/.test(n.text);
    const isRune = n.text.startsWith("'");
    if (n.isFloat && !isHexInt && !isRune && /[.eEpP]/.test(n.text)) return n.float;
    if (n.isInt) return n.int;
    if (n.isUint) this.errorf(`${n.text} overflows int`);
    return NO_VALUE;
  }

  private evalFieldNode(dot: Dot, field: ArgNode & { type: 'field' }, args: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    this.at(field);
    return this.evalFieldChain(dot, dot, field.ident, args, final);
  }

  private evalChainNode(dot: Dot, chain: ArgNode & { type: 'chain' }, args: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    if (chain.node.type === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, undefined, chain.node);
    return this.evalFieldChain(dot, pipe, chain.field, args, final);
  }

  private evalVariableNode(dot: Dot, variable: ArgNode & { type: 'variable' }, args: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    this.at(variable);
    const value = this.varValue(variable.ident[0]!);
    if (variable.ident.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, variable.ident.slice(1), args, final);
  }

  private evalFieldChain(dot: Dot, receiver: Dot, ident: string[], args: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    let r = receiver;
    for (let i = 0; i < ident.length - 1; i++) r = this.evalField(ident[i]!, [], MISSING_FINAL, r);
    return this.evalField(ident[ident.length - 1]!, args, final, r);
  }

  private evalField(fieldName: string, args: ArgNode[], final: Dot | typeof MISSING_FINAL, receiver: Dot): Dot {
    const v = receiver.v;
    if (v === NO_VALUE) {
      if (this.missingKey === 'error') this.errorf(`nil data; no entry for key ${JSON.stringify(fieldName)}`);
      return { v: NO_VALUE, boxed: false };
    }
    const typ = receiver.boxed ? 'interface {}' : goTypeName(v);
    if (v === null) this.errorf(`nil pointer evaluating ${typ}.${fieldName}`);
    const hasArgs = args.length > 1 || final !== MISSING_FINAL;
    if (typeof v === 'object' && !Array.isArray(v)) {
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`);
      const map = v as Record<string, Value>;
      if (Object.hasOwn(map, fieldName)) {
        const found = map[fieldName];
        return { v: found === undefined ? null : found, boxed: true };
      }
      switch (this.missingKey) {
        case 'error':
          this.errorf(`map has no entry for key ${JSON.stringify(fieldName)}`);
        case 'zero':
          return { v: null, boxed: true };
        default:
          if (v === this.data) this.pendingMissing = fieldName;
          return { v: NO_VALUE, boxed: false };
      }
    }
    return this.errorf(`can't evaluate field ${fieldName} in type ${typ}`);
  }

  private evalFunction(dot: Dot, node: ArgNode & { type: 'identifier' }, cmd: AnyNode, args: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    this.at(node);
    const name = node.name;
    const fn = this.funcs[name];
    if (fn === undefined) this.errorf(`${JSON.stringify(name)} is not a defined function`);
    return this.evalCall(dot, fn, cmd, name, args, final);
  }

  private evalCall(dot: Dot, fn: TemplateFunction, node: AnyNode, name: string, allArgs: ArgNode[], final: Dot | typeof MISSING_FINAL): Dot {
    const args = allArgs.slice(1);
    let numIn = args.length;
    if (final !== MISSING_FINAL) numIn++;
    const numFixed = fn.params.length;
    if (fn.variadic !== undefined) {
      if (numIn < numFixed) {
        this.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`);
      }
    } else if (numIn !== numFixed) {
      this.errorf(`wrong number of args for ${name}: want ${numFixed} got ${numIn}`);
    }
    if (name === 'and' || name === 'or') {
      let v: Dot = { v: NO_VALUE, boxed: false };
      for (const arg of args) {
        v = this.evalArg(dot, 'value', arg);
        if (isTrue(v.v) === (name === 'or')) return unbox(v);
      }
      if (final !== MISSING_FINAL) v = final;
      return unbox(v);
    }
    const argv: Value[] = [];
    const boxed: boolean[] = [];
    const push = (d: Dot, kind: ParamKind) => {
      argv.push(this.validate(d, kind));
      boxed.push(d.boxed);
    };
    let i = 0;
    for (; i < numFixed && i < args.length; i++) push(this.evalArg(dot, fn.params[i]!, args[i]!), fn.params[i]!);
    if (fn.variadic !== undefined) for (; i < args.length; i++) push(this.evalArg(dot, fn.variadic, args[i]!), fn.variadic);
    if (final !== MISSING_FINAL) push(final, i < numFixed ? fn.params[i]! : fn.variadic!);
    try {
      if (name === 'call' && this.funcs[name] === fn) {
        argv.unshift(args[0] ? nodeString(args[0]) : printOne((final as Dot).v));
        boxed.unshift(false);
      }
      const result = fn.call(argv, boxed);
      // A nil from a function comes out of a map or slice: an empty interface, which prints as no value.
      return { v: result, boxed: result === null };
    } catch (error) {
      if (error instanceof FuncError) {
        this.at(node);
        this.errorf(`error calling ${name}: ${error.message}`);
      }
      throw error;
    }
  }

  /** Go's validateType for the three parameter kinds. */
  private validate(value: Dot, kind: ParamKind | undefined): Value {
    const v = value.v;
    if (kind === 'string') {
      if (v === NO_VALUE) this.errorf('invalid value; expected string');
      if (typeof v !== 'string') {
        if (value.boxed && v === null) this.errorf('wrong type for value; expected string; got interface {}');
        this.errorf(`wrong type for value; expected string; got ${goTypeName(v)}`);
      }
      return v;
    }
    if (v === NO_VALUE) return kind === 'value' ? NO_VALUE : null;
    return v;
  }

  /** Go's evalArg: nodes become values; constants take the parameter's type. */
  private evalArg(dot: Dot, kind: ParamKind | undefined, n: ArgNode): Dot {
    this.at(n);
    switch (n.type) {
      case 'dot':
        return dot;
      case 'nil':
        if (kind === 'string') this.errorf('cannot assign nil to string');
        if (kind === 'value') return this.errorf('cannot assign nil to reflect.Value');
        return { v: null, boxed: false };
      case 'field':
        return this.evalFieldNode(dot, n, [n], MISSING_FINAL);
      case 'variable':
        return this.evalVariableNode(dot, n, [n], MISSING_FINAL);
      case 'pipe':
        return this.evalPipeline(dot, n);
      case 'identifier':
        return this.evalFunction(dot, n, n, [n], MISSING_FINAL);
      case 'chain':
        return this.evalChainNode(dot, n, [], MISSING_FINAL);
    }
    if (kind === 'string') {
      if (n.type === 'string') return { v: n.text, boxed: false };
      this.errorf(`expected string; found ${nodeString(n)}`);
    }
    switch (n.type) {
      case 'bool':
        return { v: n.value, boxed: false };
      case 'number':
        return { v: this.idealConstant(n), boxed: false };
      case 'string':
        return { v: n.text, boxed: false };
    }
    return this.errorf(`can't handle ${nodeString(n)} for arg of type ${kind}`);
  }

  private printValue(node: AnyNode, value: Dot) {
    this.at(node);
    const v = value.v;
    if (v === NO_VALUE) {
      if (this.pendingMissing !== undefined && !this.missing.includes(this.pendingMissing)) this.missing.push(this.pendingMissing);
      this.write('<no value>');
      return;
    }
    if (typeof v === 'function') this.errorf(`can't print ${nodeString(node)} of type func`);
    this.write(printOne(v));
  }
}

function unbox(d: Dot): Dot {
  if (d.boxed) return { v: d.v === null ? NO_VALUE : d.v, boxed: false };
  return d;
}

export type { ListNode };
