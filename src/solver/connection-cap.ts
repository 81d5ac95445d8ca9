/**
 * One address cannot hold every connection of the solver: past its cap, its new TCP connections (HTTP and
 * WebSocket alike) are closed at once, so that idle connections from one host never lock others out.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../lib/logger.js';

/** Whom a connection counts against: its address, or for IPv6 its /64 (one host can hold a whole /64). */
export function connectionKey(address: string | undefined): string {
  if (!address) return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

/** Caps the server's open connections per `connectionKey` at `maxPerAddress`. */
export function capConnectionsPerAddress(server: Server, maxPerAddress: number, logger: Logger): void {
  const open = new Map<string, number>();
  const capped = new Set<string>();
  server.on('connection', (socket: Socket) => {
    const key = connectionKey(socket.remoteAddress);
    const count = open.get(key) ?? 0;
    if (count >= maxPerAddress) {
      if (!capped.has(key)) logger.warn({ address: key, open: count }, 'connection cap reached for an address; closing its new connections');
      capped.add(key);
      socket.destroy();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
      if (left < maxPerAddress) capped.delete(key);
    });
  });
}
