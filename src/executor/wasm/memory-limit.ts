/**
 * Caps a module's linear memory by rewriting the maximum in its memory section. memory.grow beyond the cap
 * then fails inside the module (malloc returns NULL), the same way on every machine, instead of the host
 * running out of memory. The engine gives no other hook on growth: a Worker's resourceLimits cover only
 * the JavaScript heap.
 */
import { ExecutorError } from '../../lib/errors.js';

export const WASM_PAGE_BYTES = 65_536;
const MEMORY_SECTION = 5;

function readUleb(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  for (let at = offset; at < bytes.length; at++) {
    const byte = bytes[at];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { value, next: at + 1 };
  }
  throw new ExecutorError('the module is not valid WebAssembly (truncated LEB128 number)', { code: 'invalid-module' });
}

function writeUleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

/**
 * Returns the module's bytes with every defined memory capped at `maxBytes` (rounded down to whole pages),
 * or the bytes unchanged when the module defines no memory. Throws 'memory-limit' when the module needs
 * more than that just to start.
 */
export function capModuleMemory(module: Uint8Array, maxBytes: number): Uint8Array {
  const limitPages = Math.floor(maxBytes / WASM_PAGE_BYTES);
  let offset = 8; // magic and version
  while (offset < module.length) {
    const id = module[offset];
    const size = readUleb(module, offset + 1);
    const payloadStart = size.next;
    const payloadEnd = payloadStart + size.value;
    if (id !== MEMORY_SECTION) {
      offset = payloadEnd;
      continue;
    }
    const payload: number[] = [];
    const count = readUleb(module, payloadStart);
    payload.push(...writeUleb(count.value));
    let at = count.next;
    for (let index = 0; index < count.value; index++) {
      const flags = module[at];
      if (flags & ~0x01) {
        throw new ExecutorError('memory limits support only unshared 32-bit memories', {
          code: 'invalid-module',
          details: { memoryFlags: flags },
        });
      }
      const initial = readUleb(module, at + 1);
      at = initial.next;
      let maximum = Infinity;
      if (flags & 0x01) {
        const declared = readUleb(module, at);
        maximum = declared.value;
        at = declared.next;
      }
      if (initial.value > limitPages) {
        throw new ExecutorError(
          `the module needs ${initial.value * WASM_PAGE_BYTES} bytes of memory to start; the limit is ${maxBytes}`,
          { code: 'memory-limit', details: { neededBytes: initial.value * WASM_PAGE_BYTES, limitBytes: maxBytes } },
        );
      }
      payload.push(0x01, ...writeUleb(initial.value), ...writeUleb(Math.min(maximum, limitPages)));
    }
    const header = [MEMORY_SECTION, ...writeUleb(payload.length)];
    const capped = new Uint8Array(offset + header.length + payload.length + (module.length - payloadEnd));
    capped.set(module.subarray(0, offset), 0);
    capped.set(header, offset);
    capped.set(payload, offset + header.length);
    capped.set(module.subarray(payloadEnd), offset + header.length + payload.length);
    return capped;
  }
  return module;
}
