/**
 * The lexer of Go's text/template (text/template/parse/lex.go), item for item: text, delimiters with
 * trim markers, comments, and the tokens inside actions. Positions are UTF-16 offsets into the source;
 * errors convert them to Go's byte columns.
 */

export type ItemType =
  | 'error' | 'bool' | 'char' | 'charConstant' | 'comment' | 'complex' | 'assign' | 'declare' | 'eof'
  | 'field' | 'identifier' | 'leftDelim' | 'leftParen' | 'number' | 'pipe' | 'rawString' | 'rightDelim'
  | 'rightParen' | 'space' | 'string' | 'text' | 'variable'
  // keywords
  | 'block' | 'break' | 'continue' | 'dot' | 'define' | 'else' | 'end' | 'if' | 'range' | 'nil' | 'template' | 'with';

export interface Item {
  type: ItemType;
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS: Record<string, ItemType> = {
  '.': 'dot', block: 'block', break: 'break', continue: 'continue', define: 'define', else: 'else', end: 'end',
  if: 'if', range: 'range', nil: 'nil', template: 'template', with: 'with',
};
export const isKeyword = (type: ItemType): boolean =>
  type === 'dot' || type === 'block' || type === 'break' || type === 'continue' || type === 'define' || type === 'else' ||
  type === 'end' || type === 'if' || type === 'range' || type === 'nil' || type === 'template' || type === 'with';

const LEFT = '{{';
const RIGHT = '}}';

export const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlphaNumeric = (c: string | undefined): boolean => c !== undefined && (c === '_' || /^[\p{L}\p{Nd}]$/u.test(c));

function hasLeftTrimMarker(s: string, at: number): boolean {
  return s[at] === '-' && isSpace(s[at + 1]);
}
function hasRightTrimMarker(s: string, at: number): boolean {
  return isSpace(s[at]) && s[at + 1] === '-';
}

/** Go's %q for an item value in messages, cut to 10 characters as item.String() does. */
export function itemString(item: Item): string {
  if (item.type === 'eof') return 'EOF';
  if (item.type === 'error') return item.val;
  if (isKeyword(item.type)) return `<${item.val}>`;
  const chars = Array.from(item.val);
  if (chars.length > 10) return goQuoteForMessage(chars.slice(0, 10).join('')) + '...';
  return goQuoteForMessage(item.val);
}

function goQuoteForMessage(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

export function lex(input: string): Item[] {
  const items: Item[] = [];
  const lineStarts: number[] = [0];
  for (let i = 0; i < input.length; i++) if (input.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  let start = 0;
  let pos = 0;
  let parenDepth = 0;
  const emit = (type: ItemType) => {
    items.push({ type, pos: start, val: input.slice(start, pos), line: lineOf(start) });
    start = pos;
  };
  const error = (message: string): false => {
    items.push({ type: 'error', pos: start, val: message, line: lineOf(start) });
    return false;
  };
  // Scans past a quoted string or character constant whose opening quote was just read; a backslash
  // escapes the next character, and a newline or the end of input leaves it unterminated.
  const scanQuoted = (quote: string, unterminated: string): boolean => {
    for (;;) {
      const d = input[pos++];
      if (d === '\\') {
        const e = input[pos];
        if (e !== undefined && e !== '\n') {
          pos++;
          continue;
        }
        return error(unterminated);
      }
      if (d === undefined || d === '\n') return error(unterminated);
      if (d === quote) return true;
    }
  };
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (hasRightTrimMarker(input, pos) && input.startsWith(RIGHT, pos + 2)) return { delim: true, trim: true };
    return { delim: input.startsWith(RIGHT, pos), trim: false };
  };
  const leftTrimLength = (from: number): number => {
    let n = from;
    while (n < input.length && isSpace(input[n])) n++;
    return n - from;
  };
  const atTerminator = (): boolean => {
    const c = input[pos];
    if (c === undefined || isSpace(c)) return true;
    if ('.,|:)('.includes(c)) return true;
    return input.startsWith(RIGHT, pos);
  };

  // Returns false once an error item or EOF has been emitted.
  const lexText = (): boolean => {
    const x = input.indexOf(LEFT, pos);
    if (x >= 0) {
      if (x > pos) {
        pos = x;
        let trimLength = 0;
        if (hasLeftTrimMarker(input, pos + LEFT.length)) {
          let end = pos;
          while (end > start && isSpace(input[end - 1])) end--;
          trimLength = pos - end;
        }
        pos -= trimLength;
        if (pos > start) emit('text');
        pos += trimLength;
        start = pos;
      }
      return lexLeftDelim();
    }
    pos = input.length;
    if (pos > start) emit('text');
    items.push({ type: 'eof', pos, val: '', line: lineOf(pos) });
    return false;
  };

  const lexLeftDelim = (): boolean => {
    pos += LEFT.length;
    const trim = hasLeftTrimMarker(input, pos);
    const afterMarker = trim ? 2 : 0;
    if (input.startsWith('/*', pos + afterMarker)) {
      pos += afterMarker;
      start = pos;
      return lexComment();
    }
    emit('leftDelim');
    pos += afterMarker;
    start = pos;
    parenDepth = 0;
    return lexInsideAction();
  };

  const lexComment = (): boolean => {
    pos += 2;
    const x = input.indexOf('*/', pos);
    if (x < 0) return error('unclosed comment');
    pos = x + 2;
    const { delim, trim } = atRightDelim();
    if (!delim) return error('comment ends before closing delimiter');
    if (trim) pos += 2;
    pos += RIGHT.length;
    if (trim) pos += leftTrimLength(pos);
    start = pos;
    return true;
  };

  const lexRightDelim = (): boolean => {
    const { trim } = atRightDelim();
    if (trim) {
      pos += 2;
      start = pos;
    }
    pos += RIGHT.length;
    emit('rightDelim');
    if (trim) {
      pos += leftTrimLength(pos);
      start = pos;
    }
    return true;
  };

  const scanNumber = (): boolean => {
    const accept = (valid: string): boolean => {
      if (pos < input.length && valid.includes(input[pos]!)) {
        pos++;
        return true;
      }
      return false;
    };
    const acceptRun = (valid: string) => {
      while (pos < input.length && valid.includes(input[pos]!)) pos++;
    };
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    if (digits.length === 23 && accept('pP')) {
      accept('+-');
      acceptRun('0123456789_');
    }
    accept('i');
    if (isAlphaNumeric(input[pos])) {
      pos++;
      return false;
    }
    return true;
  };

  const lexInsideAction = (): boolean => {
    for (;;) {
      const { delim } = atRightDelim();
      if (delim) {
        if (parenDepth === 0) {
          lexRightDelim();
          return true;
        }
        return error('unclosed left paren');
      }
      const c = input[pos];
      if (c === undefined) return error('unclosed action');
      if (isSpace(c)) {
        let n = 0;
        while (isSpace(input[pos])) {
          pos++;
          n++;
        }
        if (hasRightTrimMarker(input, pos - 1) && input.startsWith(RIGHT, pos + 1)) {
          pos--;
          if (n === 1) continue;
        }
        emit('space');
        continue;
      }
      pos++;
      if (c === '=') emit('assign');
      else if (c === ':') {
        if (input[pos] !== '=') {
          pos++;
          return error('expected :=');
        }
        pos++;
        emit('declare');
      } else if (c === '|') emit('pipe');
      else if (c === '"') {
        if (!scanQuoted('"', 'unterminated quoted string')) return false;
        emit('string');
      } else if (c === '`') {
        const x = input.indexOf('`', pos);
        if (x < 0) return error('unterminated raw quoted string');
        pos = x + 1;
        emit('rawString');
      } else if (c === '$') {
        if (!lexFieldOrVariable('variable')) return false;
      } else if (c === "'") {
        if (!scanQuoted("'", 'unterminated character constant')) return false;
        emit('charConstant');
      } else if (c === '.' && pos < input.length && !(input[pos]! >= '0' && input[pos]! <= '9')) {
        if (!lexFieldOrVariable('field')) return false;
      } else if (c === '.' || c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        pos--;
        if (!scanNumber()) return error(`bad number syntax: ${goQuoteForMessage(input.slice(start, pos))}`);
        const sign = input[pos];
        if (sign === '+' || sign === '-') {
          if (!scanNumber() || input[pos - 1] !== 'i') return error(`bad number syntax: ${goQuoteForMessage(input.slice(start, pos))}`);
          emit('complex');
        } else emit('number');
      } else if (isAlphaNumeric(c)) {
        while (isAlphaNumeric(input[pos])) pos++;
        const word = input.slice(start, pos);
        if (!atTerminator()) {
          const bad = String.fromCodePoint(input.codePointAt(pos)!);
          pos += bad.length;
          return error(`bad character ${unicodeName(bad)}`);
        }
        const keyword = KEYWORDS[word];
        if (keyword !== undefined && Object.hasOwn(KEYWORDS, word)) emit(keyword);
        else if (word === 'true' || word === 'false') emit('bool');
        else emit('identifier');
      } else if (c === '(') {
        parenDepth++;
        emit('leftParen');
      } else if (c === ')') {
        parenDepth--;
        if (parenDepth < 0) return error('unexpected right paren');
        emit('rightParen');
      } else if (c.charCodeAt(0) <= 0x7f && c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f) {
        emit('char');
      } else {
        const bad = String.fromCodePoint(input.codePointAt(pos - 1)!);
        return error(`unrecognized character in action: ${unicodeName(bad)}`);
      }
    }
  };

  const lexFieldOrVariable = (type: 'field' | 'variable'): boolean => {
    if (atTerminator()) {
      emit(type === 'variable' ? 'variable' : 'dot');
      return true;
    }
    while (isAlphaNumeric(input[pos])) pos++;
    if (!atTerminator()) {
      const bad = String.fromCodePoint(input.codePointAt(pos)!);
      pos += bad.length;
      return error(`bad character ${unicodeName(bad)}`);
    }
    emit(type);
    return true;
  };

  while (lexText());
  return items;
}

/** Go's %#U: U+0023 '#'. */
export function unicodeName(c: string): string {
  const code = c.codePointAt(0)!;
  const hex = code.toString(16).toUpperCase().padStart(4, '0');
  return code >= 0x20 && code !== 0x7f ? `U+${hex} '${c}'` : `U+${hex}`;
}
