/**
 * Go's fmt for the values a template sees: strings, ints (bigint), float64 (number), bools, nil (null),
 * []interface{} (arrays) and map[string]interface{} (plain objects). Sprint, Sprintln and Sprintf with
 * Go's verbs, flags, widths, precisions, argument indexes and its %!verb(type=value) complaints.
 */

export type GoFunc = { goFunc: true; name: string };

export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float64';
    case 'boolean':
      return 'bool';
    case 'function':
      return 'func';
  }
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
}
const clearFlags = (): Flags => ({
  plus: false, minus: false, sharp: false, space: false, zero: false, plusV: false, sharpV: false,
  wid: 0, widPresent: false, prec: 0, precPresent: false,
});

const runeCount = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

const isPrintRune = (c: string): boolean => {
  const cp = c.codePointAt(0)!;
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c);
};

/** Go's strconv.Quote (ascii: QuoteToASCII). */
export function goQuote(s: string, quote = '"', ascii = false): string {
  let out = quote;
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (c === quote || c === '\\') {
      out += '\\' + c;
      continue;
    }
    if (ascii ? cp < 0x80 && isPrintRune(c) : isPrintRune(c)) {
      out += c;
      continue;
    }
    switch (c) {
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0xd800 && cp < 0xe000) out += '\\ufffd';
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + quote;
}

// ---- float digits ----------------------------------------------------------------------------------

/** True when the exact binary value of |x| sits exactly half-way at the rounding digit. */
function isTie(expansion: string, keep: number): boolean {
  const rest = expansion.slice(keep);
  return /^50*$/.test(rest);
}

function digitsOf(s: string): { digits: string; dp: number } {
  // s like "123.456" (non-negative)
  const [int = '', frac = ''] = s.split('.');
  let digits = int + frac;
  let dp = int.length;
  const lead = digits.search(/[^0]/);
  if (lead === -1) return { digits: '', dp: 0 };
  digits = digits.slice(lead);
  dp -= lead;
  digits = digits.replace(/0+$/, '');
  return { digits, dp };
}

function roundDigits(digits: string, n: number): { digits: string; carry: boolean } {
  // Rounds a digit string to n digits (half-up; ties handled by the caller).
  if (digits.length <= n) return { digits, carry: false };
  const up = digits.charCodeAt(n) >= 53;
  let kept = digits.slice(0, n);
  if (!up) return { digits: kept, carry: false };
  const arr = kept.split('');
  let i = n - 1;
  for (; i >= 0; i--) {
    if (arr[i] === '9') arr[i] = '0';
    else {
      arr[i] = String.fromCharCode(arr[i]!.charCodeAt(0) + 1);
      break;
    }
  }
  kept = arr.join('');
  if (i < 0) return { digits: '1' + kept.slice(0, n - 1), carry: true };
  return { digits: kept, carry: false };
}

/** The exact decimal expansion of |x| (doubles have finite ones), as digits and a decimal point. */
function exactDigits(x: number): { digits: string; dp: number } {
  const a = Math.abs(x);
  if (a === 0) return { digits: '', dp: 0 };
  if (a >= 1e21) return digitsOf(BigInt(a).toString());
  return digitsOf(a.toFixed(100).length > 0 && a >= 1e-6 ? a.toFixed(100) : exactSmall(a));
}

function exactSmall(a: number): string {
  // a = m * 2^e with integer m; write m * 5^-e / 10^-e exactly.
  let e = 0;
  let m = a;
  while (!Number.isInteger(m)) {
    m *= 2;
    e--;
  }
  const num = BigInt(m) * 5n ** BigInt(-e);
  const s = num.toString().padStart(-e + 1, '0');
  return s.slice(0, s.length + e) + '.' + s.slice(s.length + e);
}

/** Rounds |x| to `n` significant digits (n = -1: shortest), Go style (ties to even). */
function significant(x: number, n: number): { digits: string; dp: number } {
  const a = Math.abs(x);
  if (a === 0) return { digits: '', dp: 0 };
  if (n < 0) {
    const [mant = '', exp = '0'] = a.toExponential().split('e');
    return { digits: mant.replace('.', '').replace(/0+$/, ''), dp: Number(exp) + 1 };
  }
  const exact = exactDigits(a);
  return roundExact(exact, n);
}

function roundExact(exact: { digits: string; dp: number }, n: number): { digits: string; dp: number } {
  if (n < 0) return { digits: '', dp: exact.dp };
  if (exact.digits.length <= n) return exact;
  let r: { digits: string; carry: boolean };
  if (isTie(exact.digits, n)) {
    const last = n > 0 ? exact.digits.charCodeAt(n - 1) - 48 : 0;
    r = last % 2 === 0 ? { digits: exact.digits.slice(0, n), carry: false } : roundDigits(exact.digits, n);
  } else r = roundDigits(exact.digits, n);
  const dp = exact.dp + (r.carry ? 1 : 0);
  return { digits: r.digits.replace(/0+$/, ''), dp };
}

/** Rounds |x| to `prec` digits after the point. */
function fixedDigits(x: number, prec: number): { digits: string; dp: number } {
  const exact = exactDigits(x);
  const n = exact.dp + prec;
  if (n < 0) return { digits: '', dp: 0 };
  if (n === 0) {
    // Rounds to 0 or to one unit at the position.
    const half = exact.digits.length > 0 && (exact.digits.charCodeAt(0) > 53 || (exact.digits.charCodeAt(0) === 53 && exact.digits.length > 1));
    return half ? { digits: '1', dp: exact.dp + 1 } : { digits: '', dp: 0 };
  }
  return roundExact(exact, n);
}

function fmtE(d: { digits: string; dp: number }, prec: number, e: string): string {
  let out = d.digits.length === 0 ? '0' : d.digits[0]!;
  if (prec > 0) {
    out += '.';
    const tail = d.digits.slice(1, 1 + prec);
    out += tail + '0'.repeat(prec - tail.length);
  }
  const exp = d.digits.length === 0 ? 0 : d.dp - 1;
  const ae = Math.abs(exp);
  return out + e + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae));
}

function fmtF(d: { digits: string; dp: number }, prec: number): string {
  let out: string;
  if (d.dp > 0) {
    const head = d.digits.slice(0, d.dp);
    out = head + '0'.repeat(d.dp - head.length);
  } else out = '0';
  if (prec > 0) {
    out += '.';
    for (let i = 1; i <= prec; i++) {
      const j = d.dp + i - 1;
      out += j >= 0 && j < d.digits.length ? d.digits[j] : '0';
    }
  }
  return out;
}

/** strconv.FormatFloat for the verbs e, E, f, F, g, G (prec -1: shortest); without sign. */
function formatFloatAbs(x: number, verb: string, prec: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : 'Inf';
  const shortest = prec < 0;
  switch (verb) {
    case 'e':
    case 'E': {
      const d = shortest ? significant(x, -1) : significant(x, prec + 1);
      return fmtE(d, shortest ? Math.max(d.digits.length - 1, 0) : prec, verb);
    }
    case 'f':
    case 'F': {
      if (shortest) {
        const d = significant(x, -1);
        return fmtF(d, Math.max(d.digits.length - d.dp, 0));
      }
      return fmtF(fixedDigits(x, prec), prec);
    }
    default: {
      // g, G
      let p = prec;
      if (p === 0) p = 1;
      const d = shortest ? significant(x, -1) : significant(x, p);
      if (shortest) p = d.digits.length;
      let eprec = p;
      if (eprec > d.digits.length && d.digits.length >= d.dp) eprec = d.digits.length;
      if (shortest) eprec = 6;
      const exp = d.dp - 1;
      if (d.digits.length !== 0 && (exp < -4 || exp >= eprec)) {
        if (p > d.digits.length) p = d.digits.length;
        return fmtE(d, p - 1, verb === 'G' ? 'E' : 'e');
      }
      if (d.digits.length === 0) return '0';
      if (p > d.dp) p = d.digits.length;
      return fmtF(d, Math.max(p - d.dp, 0));
    }
  }
}

/** fmt's %v for a float64. */
export function formatFloatV(x: number): string {
  const s = formatFloatAbs(x, 'g', -1);
  if (Number.isNaN(x)) return 'NaN';
  return x < 0 || Object.is(x, -0) ? '-' + s : Number.isFinite(x) ? s : '+Inf';
}

// ---- the printer -----------------------------------------------------------------------------------

class Printer {
  buf = '';
  f: Flags = clearFlags();
  arg: unknown = undefined;
  erroring = false;

  writePadding(n: number) {
    if (n <= 0) return;
    this.buf += (this.f.zero ? '0' : ' ').repeat(n);
  }
  pad(s: string) {
    if (!this.f.widPresent || this.f.wid === 0) {
      this.buf += s;
      return;
    }
    const width = this.f.wid - runeCount(s);
    if (!this.f.minus) {
      this.writePadding(width);
      this.buf += s;
    } else {
      this.buf += s;
      const zero = this.f.zero;
      this.f.zero = false;
      this.writePadding(width);
      this.f.zero = zero;
    }
  }
  truncate(s: string): string {
    if (this.f.precPresent) {
      const chars = Array.from(s);
      if (chars.length > this.f.prec) return chars.slice(0, this.f.prec).join('');
    }
    return s;
  }

  fmtInteger(v: bigint, base: number, verb: string, upper: boolean) {
    const f = this.f;
    const negative = v < 0n;
    const u = negative ? -v : v;
    let prec = 0;
    if (f.precPresent) {
      prec = f.prec;
      if (prec === 0 && u === 0n) {
        const zero = f.zero;
        f.zero = false;
        this.writePadding(f.wid);
        f.zero = zero;
        return;
      }
    } else if (f.zero && !f.minus && f.widPresent) {
      prec = f.wid;
      if (negative || f.plus || f.space) prec--;
    }
    let digits = u.toString(base);
    if (upper) digits = digits.toUpperCase();
    if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
    if (f.sharp) {
      if (base === 2) digits = '0b' + digits;
      else if (base === 8 && digits[0] !== '0') digits = '0' + digits;
      else if (base === 16) digits = (upper ? '0X' : '0x') + digits;
    }
    if (verb === 'O') digits = '0o' + digits;
    if (negative) digits = '-' + digits;
    else if (f.plus) digits = '+' + digits;
    else if (f.space) digits = ' ' + digits;
    const zero = f.zero;
    f.zero = false;
    this.pad(digits);
    f.zero = zero;
  }

  fmtFloat(v: number, verb: string, defaultPrec: number) {
    const f = this.f;
    const prec = f.precPresent ? f.prec : defaultPrec;
    let num: string;
    if (verb === 'x' || verb === 'X' || verb === 'b') num = (v < 0 || Object.is(v, -0) ? '-' : '+') + hexFloat(Math.abs(v), verb, prec);
    else {
      const abs = formatFloatAbs(v, verb, prec);
      num = Number.isNaN(v) ? '+NaN' : (v < 0 || Object.is(v, -0) ? '-' : '+') + abs;
    }
    if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1);
    if (num[1] === 'I' || num[1] === 'N') {
      const zero = f.zero;
      f.zero = false;
      if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
      this.pad(num);
      f.zero = zero;
      return;
    }
    if (f.sharp && verb !== 'b' && !num.includes('.')) {
      // Go's %#g keeps the point and trailing zeros; enough for integral values here.
      const ePos = num.search(/[eEpP]/);
      num = ePos >= 0 ? num.slice(0, ePos) + '.' + num.slice(ePos) : num + '.';
    }
    if (f.plus || num[0] !== '+') {
      if (f.zero && !f.minus && f.widPresent && f.wid > num.length) {
        this.buf += num[0];
        this.writePadding(f.wid - num.length);
        this.buf += num.slice(1);
        return;
      }
      this.pad(num);
      return;
    }
    this.pad(num.slice(1));
  }

  fmtSx(s: string, upper: boolean) {
    const f = this.f;
    const digits = upper ? '0123456789ABCDEFX' : '0123456789abcdefx';
    const b = Buffer.from(s, 'utf8');
    let length = b.length;
    if (f.precPresent && f.prec < length) length = f.prec;
    let width = 2 * length;
    if (width > 0) {
      if (f.space) {
        if (f.sharp) width *= 2;
        width += length - 1;
      } else if (f.sharp) width += 2;
    } else {
      if (f.widPresent) this.writePadding(f.wid);
      return;
    }
    if (f.widPresent && f.wid > width && !f.minus) this.writePadding(f.wid - width);
    let out = '';
    if (f.sharp) out += '0' + digits[16];
    for (let i = 0; i < length; i++) {
      if (f.space && i > 0) {
        out += ' ';
        if (f.sharp) out += '0' + digits[16];
      }
      const c = b[i]!;
      out += digits[c >> 4]! + digits[c & 15]!;
    }
    this.buf += out;
    if (f.widPresent && f.wid > width && f.minus) this.writePadding(f.wid - width);
  }

  badVerb(verb: string) {
    this.erroring = true;
    this.buf += '%!' + verb + '(';
    if (this.arg !== null && this.arg !== undefined) {
      this.buf += goTypeName(this.arg) + '=';
      this.printArg(this.arg, 'v');
    } else this.buf += '<nil>';
    this.buf += ')';
    this.erroring = false;
  }

  fmtString(s: string, verb: string) {
    switch (verb) {
      case 'v':
        if (this.f.sharpV) this.pad(goQuote(s));
        else this.pad(this.truncate(s));
        return;
      case 's':
        this.pad(this.truncate(s));
        return;
      case 'x':
      case 'X':
        this.fmtSx(s, verb === 'X');
        return;
      case 'q': {
        const t = this.truncate(s);
        if (this.f.sharp && !/[`\x00-\x08\x0a-\x1f\x7f\ufeff]/.test(t)) this.pad('`' + t + '`');
        else this.pad(goQuote(t, '"', this.f.plus));
        return;
      }
      default:
        this.badVerb(verb);
    }
  }

  fmtRune(v: bigint, verb: string) {
    let cp = Number(v);
    const valid = v >= 0n && v <= 0x10ffffn && !(cp >= 0xd800 && cp < 0xe000);
    if (!valid) cp = 0xfffd;
    const c = String.fromCodePoint(cp);
    if (verb === 'c') this.pad(c);
    else if (verb === 'q') this.pad(goQuote(c, "'", this.f.plus));
    else {
      // U
      let hex = (v < 0n ? -v : v).toString(16).toUpperCase();
      const prec = this.f.precPresent && this.f.prec > 4 ? this.f.prec : 4;
      hex = hex.padStart(prec, '0');
      let s = 'U+' + hex;
      if (this.f.sharp && valid && isPrintRune(c)) s += ` '${c}'`;
      const zero = this.f.zero;
      this.f.zero = false;
      this.pad(s);
      this.f.zero = zero;
    }
  }

  printArg(arg: unknown, verb: string, depth = 0) {
    this.arg = arg;
    if (arg === null || arg === undefined) {
      if (depth > 0) {
        this.buf += '<nil>';
        return;
      }
      if (verb === 'T' || verb === 'v') {
        if (this.f.sharpV && depth > 0) this.pad('interface {}(nil)');
        else this.pad('<nil>');
      } else this.badVerb(verb);
      return;
    }
    if (verb === 'T') {
      this.fmtString(goTypeName(arg), 's');
      return;
    }
    switch (typeof arg) {
      case 'boolean':
        if (verb === 't' || verb === 'v') this.pad(arg ? 'true' : 'false');
        else this.badVerb(verb);
        return;
      case 'number':
        switch (verb) {
          case 'v':
            this.fmtFloat(arg, 'g', -1);
            return;
          case 'b': case 'g': case 'G': case 'x': case 'X':
            this.fmtFloat(arg, verb, -1);
            return;
          case 'f': case 'e': case 'E': case 'F':
            this.fmtFloat(arg, verb, 6);
            return;
          default:
            this.badVerb(verb);
            return;
        }
      case 'bigint':
        switch (verb) {
          case 'v': case 'd':
            this.fmtInteger(arg, 10, verb, false);
            return;
          case 'b':
            this.fmtInteger(arg, 2, verb, false);
            return;
          case 'o': case 'O':
            this.fmtInteger(arg, 8, verb, false);
            return;
          case 'x':
            this.fmtInteger(arg, 16, verb, false);
            return;
          case 'X':
            this.fmtInteger(arg, 16, verb, true);
            return;
          case 'c': case 'q': case 'U':
            this.fmtRune(arg, verb);
            return;
          default:
            this.badVerb(verb);
            return;
        }
      case 'string':
        this.fmtString(arg, verb);
        return;
      case 'function':
        this.badVerb(verb);
        return;
    }
    if (Array.isArray(arg)) {
      if (this.f.sharpV) {
        this.buf += '[]interface {}{';
        arg.forEach((item, i) => {
          if (i > 0) this.buf += ', ';
          this.printElem(item, verb, depth + 1);
        });
        this.buf += '}';
        return;
      }
      this.buf += '[';
      arg.forEach((item, i) => {
        if (i > 0) this.buf += ' ';
        this.printElem(item, verb, depth + 1);
      });
      this.buf += ']';
      return;
    }
    const map = arg as Record<string, unknown>;
    const keys = Object.keys(map).sort(compareGoStrings);
    this.buf += this.f.sharpV ? 'map[string]interface {}{' : 'map[';
    keys.forEach((key, i) => {
      if (i > 0) this.buf += this.f.sharpV ? ', ' : ' ';
      this.printElem(key, verb, depth + 1, true);
      this.buf += ':';
      this.printElem(map[key], verb, depth + 1);
    });
    this.buf += this.f.sharpV ? '}' : ']';
  }

  private printElem(v: unknown, verb: string, depth: number, concrete = false) {
    if ((v === null || v === undefined) && this.f.sharpV && !concrete) {
      this.buf += 'interface {}(nil)';
      return;
    }
    this.printArg(v, verb, depth);
  }
}

/** Prints one argument; `%v` takes `#` and `+` as its own variants (Go's fmt does the same). */
function printVerb(p: Printer, arg: unknown, verb: string): void {
  if (verb === 'v') {
    p.f.sharpV = p.f.sharp;
    p.f.sharp = false;
    p.f.plusV = p.f.plus;
    p.f.plus = false;
  }
  p.printArg(arg, verb);
}

function hexFloat(a: number, verb: string, prec: number): string {
  // %x of a float64: -0x1.cp+01 style. Precision is not applied (rare in templates).
  void prec;
  if (a === 0) return verb === 'X' ? '0X0P+00' : '0x0p+00';
  let exp = Math.floor(Math.log2(a));
  let mant = a / 2 ** exp;
  if (mant >= 2) {
    mant /= 2;
    exp++;
  }
  let frac = '';
  let m = mant - 1;
  for (let i = 0; i < 13 && m > 0; i++) {
    m *= 16;
    const d = Math.floor(m);
    frac += d.toString(16);
    m -= d;
  }
  const e = Math.abs(exp);
  let s = '0x1' + (frac ? '.' + frac : '') + 'p' + (exp < 0 ? '-' : '+') + (e < 10 ? '0' + e : String(e));
  if (verb === 'X') s = s.toUpperCase();
  if (verb === 'b') {
    // %b: decimalless mantissa and binary exponent.
    const bits = BigInt(Math.round(a * 2 ** (52 - Math.floor(Math.log2(a)))));
    s = `${bits}p${Math.floor(Math.log2(a)) - 52 >= 0 ? '+' : ''}${Math.floor(Math.log2(a)) - 52}`;
  }
  return s;
}

export function compareGoStrings(a: string, b: string): number {
  // Go compares strings by bytes (UTF-8), which for valid strings is code point order.
  if (a === b) return 0;
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

function parseNum(format: string, i: number): { num: number; present: boolean; next: number } {
  let num = 0;
  let present = false;
  while (i < format.length && format[i]! >= '0' && format[i]! <= '9') {
    if (num > 1e6) return { num: 0, present: false, next: format.length };
    num = num * 10 + (format.charCodeAt(i) - 48);
    present = true;
    i++;
  }
  return { num, present, next: i };
}

export function sprintf(format: string, args: unknown[]): string {
  const p = new Printer();
  let argNum = 0;
  let afterIndex = false;
  let reordered = false;
  let goodArgNum = true;
  const end = format.length;

  const argNumber = (i: number): void => {
    // Parses [n] at format[i].
    if (i >= end || format[i] !== '[') return;
    reordered = true;
    for (let j = i + 1; j < end; j++) {
      if (format[j] === ']') {
        const { num, present, next } = parseNum(format, i + 1);
        if (!present || next !== j) {
          goodArgNum = false;
          state.i = j + 1;
          return;
        }
        const index = num - 1;
        if (index >= 0 && index < args.length) {
          argNum = index;
          state.i = j + 1;
          afterIndex = true;
          return;
        }
        goodArgNum = false;
        state.i = j + 1;
        afterIndex = true;
        return;
      }
    }
    goodArgNum = false;
    state.i = i + 1;
  };
  const state = { i: 0 };
  const intFromArg = (): { num: number; ok: boolean } => {
    let num = 0;
    let ok = false;
    if (argNum < args.length) {
      const a = args[argNum];
      if (typeof a === 'bigint') {
        num = Number(a);
        ok = true;
        if (num > 1e6 || num < -1e6) {
          num = 0;
          ok = false;
        }
      }
      argNum++;
    }
    return { num, ok };
  };

  formatLoop: while (state.i < end) {
    goodArgNum = true;
    const lasti = state.i;
    let i = state.i;
    while (i < end && format[i] !== '%') i++;
    if (i > lasti) p.buf += format.slice(lasti, i);
    if (i >= end) break;
    i++;
    p.f = clearFlags();
    simple: for (; i < end; i++) {
      const c = format[i]!;
      switch (c) {
        case '#': p.f.sharp = true; break;
        case '0': p.f.zero = !p.f.minus; break;
        case '+': p.f.plus = true; break;
        case '-': p.f.minus = true; p.f.zero = false; break;
        case ' ': p.f.space = true; break;
        default:
          if (c >= 'a' && c <= 'z' && argNum < args.length) {
            printVerb(p, args[argNum], c);
            argNum++;
            state.i = i + 1;
            continue formatLoop;
          }
          break simple;
      }
    }
    state.i = i;
    argNumber(state.i);
    i = state.i;
    if (i < end && format[i] === '*') {
      i++;
      const { num, ok } = intFromArg();
      p.f.wid = num;
      p.f.widPresent = ok;
      if (!ok) p.buf += '%!(BADWIDTH)';
      if (p.f.wid < 0) {
        p.f.wid = -p.f.wid;
        p.f.minus = true;
        p.f.zero = false;
      }
      afterIndex = false;
    } else {
      const n = parseNum(format, i);
      p.f.wid = n.num;
      p.f.widPresent = n.present;
      i = n.next;
      if (afterIndex && p.f.widPresent) goodArgNum = false;
    }
    if (i + 1 < end && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false;
      state.i = i;
      afterIndex = false;
      argNumber(i);
      i = state.i;
      if (i < end && format[i] === '*') {
        i++;
        const { num, ok } = intFromArg();
        p.f.prec = num;
        p.f.precPresent = ok;
        if (p.f.prec < 0) {
          p.f.prec = 0;
          p.f.precPresent = false;
        }
        if (!ok) p.buf += '%!(BADPREC)';
        afterIndex = false;
      } else {
        const n = parseNum(format, i);
        p.f.prec = n.num;
        p.f.precPresent = n.present;
        i = n.next;
        if (!p.f.precPresent) {
          p.f.prec = 0;
          p.f.precPresent = true;
        }
      }
    }
    if (!afterIndex) {
      state.i = i;
      argNumber(i);
      i = state.i;
    }
    if (i >= end) {
      p.buf += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    state.i = i;
    if (verb === '%') p.buf += '%';
    else if (!goodArgNum) p.buf += `%!${verb}(BADINDEX)`;
    else if (argNum >= args.length) p.buf += `%!${verb}(MISSING)`;
    else {
      printVerb(p, args[argNum], verb);
      argNum++;
    }
    afterIndex = false;
  }
  if (!reordered && argNum < args.length) {
    p.f = clearFlags();
    p.buf += '%!(EXTRA ';
    args.slice(argNum).forEach((arg, k) => {
      if (k > 0) p.buf += ', ';
      if (arg === null || arg === undefined) p.buf += '<nil>';
      else {
        p.buf += goTypeName(arg) + '=';
        p.printArg(arg, 'v');
      }
    });
    p.buf += ')';
  }
  return p.buf;
}

const isStringArg = (a: unknown) => typeof a === 'string';

export function sprint(args: unknown[]): string {
  const p = new Printer();
  let prevString = false;
  args.forEach((arg, k) => {
    const isString = isStringArg(arg);
    if (k > 0 && !isString && !prevString) p.buf += ' ';
    p.f = clearFlags();
    p.printArg(arg, 'v');
    prevString = isString;
  });
  return p.buf;
}

export function sprintln(args: unknown[]): string {
  const p = new Printer();
  args.forEach((arg, k) => {
    if (k > 0) p.buf += ' ';
    p.f = clearFlags();
    p.printArg(arg, 'v');
  });
  return p.buf + '\n';
}

/** fmt.Sprint of one value, the way a template prints an action's result. */
export function printOne(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return sprint([v]);
}
