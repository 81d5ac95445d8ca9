import { describe, expect, it } from 'vitest';
import { hashPassword, newApiKey, sameSecret, sha256Hex, verifyPassword } from './secrets.js';

describe('passwords and keys', () => {
  it('hashes a password with a salt of its own and checks it', async () => {
    const [first, second] = await Promise.all([hashPassword('correct horse battery'), hashPassword('correct horse battery')]);
    expect(first).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(first).not.toBe(second);
    expect(await verifyPassword('correct horse battery', first)).toBe(true);
    expect(await verifyPassword('correct horse batterY', first)).toBe(false);
    expect(await verifyPassword('anything', 'not-a-hash')).toBe(false);
  });

  it('makes API keys of 32 random bytes, kept as their sha256', () => {
    const key = newApiKey();
    expect(key.key).toMatch(/^lp_[A-Za-z0-9_-]{43}$/);
    expect(key.hash).toBe(sha256Hex(key.key));
    expect(key.prefix).toBe(key.key.slice(0, 10));
    expect(newApiKey().key).not.toBe(key.key);
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
  });
});
