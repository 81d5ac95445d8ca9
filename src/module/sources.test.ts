import { expect, test } from 'vitest';
import { checkModuleSource, DEFAULT_SERVICE_MODULE_SOURCES, gitRulesFor, isNonPublicAddress } from './sources.js';

const refused = (sources: string[], repository: string) => checkModuleSource(sources, repository, 'm:v1').then(() => 'allowed', (error: Error) => error.message);

test('the service default refuses other schemes, loopback, private and link-local hosts, however they are written', async () => {
  for (const repository of [
    'file:///srv/repo', 'file:/srv/folder', 'http://example.com/owner/repo', 'ssh://example.com/repo', 'https://127.0.0.1/o/r',
    'https://2130706433/o/r', 'https://0x7f.1/o/r', 'https://10.1.2.3/o/r', 'https://172.20.0.1/o/r', 'https://192.168.1.1/o/r',
    'https://169.254.169.254/latest', 'https://100.64.0.1/o/r', 'https://0.0.0.0/o/r', 'https://[::1]/o/r', 'https://[fe80::1]/o/r',
    'https://[fd00::1]/o/r', 'https://[::ffff:127.0.0.1]/o/r', 'https://localhost/o/r', 'https://git.localhost/o/r', 'https://nas.local/o/r',
    'https://gitserver/o/r', 'not a url',
  ]) {
    expect(await refused(DEFAULT_SERVICE_MODULE_SOURCES, repository), repository).toMatch(/^module m:v1: this node does not fetch modules from .*LILYPAD_MODULE_SOURCES allows public-https/);
  }
  // A public address written as such needs no lookup.
  expect(await refused(DEFAULT_SERVICE_MODULE_SOURCES, 'https://93.184.215.14/owner/repo')).toBe('allowed');
  expect(await refused(DEFAULT_SERVICE_MODULE_SOURCES, 'https://[2606:4700::1111]/owner/repo')).toBe('allowed');
});

test('prefixes allow what they name, * allows everything, and git is held to the same transports', async () => {
  const sources = ['public-https', 'http://127.0.0.1:3000/', 'file:///srv/modules/'];
  expect(await refused(sources, 'http://127.0.0.1:3000/owner/repo')).toBe('allowed');
  expect(await refused(sources, 'file:///srv/modules/hello')).toBe('allowed');
  expect(await refused(sources, 'http://127.0.0.1:3001/owner/repo')).toMatch(/only https is allowed, not http/);
  expect(await refused(sources, 'file:///etc/repo')).toMatch(/only https is allowed, not file/);
  expect(await refused(['http://127.0.0.1:3000/'], 'https://93.184.215.14/o/r')).toMatch(/\(no entry allows it\)/);
  expect(await refused(['*'], 'file:/anything')).toBe('allowed');
  expect(gitRulesFor(sources)).toEqual({ protocols: ['https', 'http', 'file'], followRedirects: false });
  expect(gitRulesFor(['*'])).toEqual({});
});

test('isNonPublicAddress', () => {
  expect(['127.0.0.1', '10.0.0.1', '::1', 'fe80::1', '::ffff:10.0.0.1', '224.0.0.1'].map(isNonPublicAddress)).toEqual([true, true, true, true, true, true]);
  expect(['8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'].map(isNonPublicAddress)).toEqual([false, false, false]);
});
