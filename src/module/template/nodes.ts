/** The parse tree of a template, shaped like Go's text/template/parse nodes, with Go's String() forms. */

export interface NumberNode {
  type: 'number';
  pos: number;
  text: string;
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  int: bigint;
  float: number;
}
export type ArgNode =
  | { type: 'identifier'; pos: number; name: string }
  | { type: 'variable'; pos: number; ident: string[] }
  | { type: 'field'; pos: number; ident: string[] }
  | { type: 'chain'; pos: number; node: ArgNode; field: string[] }
  | { type: 'dot'; pos: number }
  | { type: 'nil'; pos: number }
  | { type: 'bool'; pos: number; value: boolean }
  | NumberNode
  | { type: 'string'; pos: number; quoted: string; text: string }
  | PipeNode;

export interface CommandNode {
  type: 'command';
  pos: number;
  args: ArgNode[];
}
export interface PipeNode {
  type: 'pipe';
  pos: number;
  line: number;
  isAssign: boolean;
  decl: string[];
  cmds: CommandNode[];
}
export interface ListNode {
  type: 'list';
  pos: number;
  nodes: Node[];
}
export interface BranchNode {
  type: 'if' | 'range' | 'with';
  pos: number;
  line: number;
  pipe: PipeNode;
  list: ListNode;
  elseList: ListNode | undefined;
}
export type Node =
  | { type: 'text'; pos: number; text: string }
  | { type: 'action'; pos: number; line: number; pipe: PipeNode }
  | BranchNode
  | { type: 'break' | 'continue'; pos: number; line: number }
  | { type: 'template'; pos: number; line: number; name: string; pipe: PipeNode | undefined }
  | ListNode
  | { type: 'end' | 'else'; pos: number; line: number };

export type AnyNode = Node | ArgNode | CommandNode;

export function nodeString(node: AnyNode): string {
  switch (node.type) {
    case 'identifier':
      return node.name;
    case 'variable':
      return node.ident.join('.');
    case 'field':
      return node.ident.map((f) => '.' + f).join('');
    case 'chain': {
      const inner = node.node.type === 'pipe' ? `(${nodeString(node.node)})` : nodeString(node.node);
      return inner + node.field.map((f) => '.' + f).join('');
    }
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(node.value);
    case 'number':
      return node.text;
    case 'string':
      return node.quoted;
    case 'command':
      return node.args.map((arg) => (arg.type === 'pipe' ? `(${nodeString(arg)})` : nodeString(arg))).join(' ');
    case 'pipe': {
      let s = '';
      if (node.decl.length > 0) s = node.decl.join(', ') + (node.isAssign ? ' = ' : ' := ');
      return s + node.cmds.map(nodeString).join(' | ');
    }
    case 'text':
      return JSON.stringify(node.text);
    case 'action':
      return `{{${nodeString(node.pipe)}}}`;
    case 'if':
    case 'range':
    case 'with': {
      let s = `{{${node.type} ${nodeString(node.pipe)}}}${nodeString(node.list)}`;
      if (node.elseList) s += `{{else}}${nodeString(node.elseList)}`;
      return s + '{{end}}';
    }
    case 'break':
    case 'continue':
      return `{{${node.type}}}`;
    case 'template':
      return node.pipe ? `{{template ${JSON.stringify(node.name)} ${nodeString(node.pipe)}}}` : `{{template ${JSON.stringify(node.name)}}}`;
    case 'list':
      return node.nodes.map(nodeString).join('');
    case 'end':
    case 'else':
      return `{{${node.type}}}`;
  }
}
