/**
 * Where modules may be fetched from. A job creator's own CLI takes any source (its disk, its network); a
 * resource provider or mediator fetches what strangers' job offers name, so by default only public https
 * hosts: nothing on its own disk (no file://, no local folders) and nothing on its own network (no loopback,
 * private or link-local addresses). Operators widen it with LILYPAD_MODULE_SOURCES.
 *
 * An entry is `*` (anything), `public-https` (https to a public host), or a prefix of repository URLs it
 * allows as they stand (`https://git.example.com/`, `http://127.0.0.1:3000/`, `file:///srv/modules/`;
 * `file:/` also allows local folders, whose refs are `file:/PATH`; end a host's prefix with `/`). Built-in
 * modules are always allowed.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ModuleError } from '../lib/errors.js';
import { safeUrl } from './git.js';

export type ModuleSources = string[];

/** The setting that names the sources, for messages. */
export const MODULE_SOURCES_SETTING = 'LILYPAD_MODULE_SOURCES';

export const ANY_MODULE_SOURCE: ModuleSources = ['*'];
/** What a provider or mediator fetches from unless told otherwise. */
export const DEFAULT_SERVICE_MODULE_SOURCES: ModuleSources = ['public-https'];

const notPublic = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) notPublic.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) notPublic.addSubnet(network, prefix, 'ipv6');

/** True for an address that is not on the public internet (loopback, private, link-local, ...). */
export function isNonPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return notPublic.check(mapped, 'ipv4');
  return notPublic.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** Names that only mean something on a local network. */
const localName = /(^|\.)(localhost|local|internal|lan|home\.arpa)$/i;

/** Why `repository` is not a public https repository, or undefined when it is (its host's addresses included). */
async function publicHttpsProblem(repository: string): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(repository);
  } catch {
    return 'it is not a URL';
  }
  if (url.protocol !== 'https:') return `only https is allowed, not ${url.protocol.replace(/:$/, '')}`;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return isNonPublicAddress(host) ? `${host} is not a public address` : undefined;
  if (localName.test(host) || !host.includes('.')) return `${host} is a local name`;
  // The name must not lead to this network either. git looks the name up again; with redirects off and a
  // public answer here, what is left is a DNS server that changes its answer on purpose.
  const addresses = await lookup(host, { all: true }).catch(() => []);
  const inside = addresses.find((a) => isNonPublicAddress(a.address));
  return inside ? `${host} resolves to ${inside.address}, which is not a public address` : undefined;
}

/** Throws a ModuleError naming the setting unless `sources` allow fetching `repository`. */
export async function checkModuleSource(sources: ModuleSources, repository: string, name: string): Promise<void> {
  if (sources.includes('*')) return;
  if (sources.some((entry) => entry !== 'public-https' && repository.startsWith(entry))) return;
  const problem = sources.includes('public-https') ? await publicHttpsProblem(repository) : 'no entry allows it';
  if (problem === undefined) return;
  throw new ModuleError(
    `module ${name}: this node does not fetch modules from ${safeUrl(repository)} (${problem}); ` +
      `${MODULE_SOURCES_SETTING} allows ${sources.join(', ')}; add the source there to allow it`,
    { code: 'module-source-refused', details: { repository, sources } },
  );
}

/** The git transports and redirect rule that go with `sources`, so git itself cannot step outside them. */
export function gitRulesFor(sources: ModuleSources): { protocols?: string[]; followRedirects?: boolean } {
  if (sources.includes('*')) return {};
  const protocols = new Set<string>();
  for (const entry of sources) {
    if (entry === 'public-https') protocols.add('https');
    else {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(entry)?.[1]?.toLowerCase();
      if (scheme) protocols.add(scheme);
    }
  }
  return { protocols: [...protocols], followRedirects: false };
}
