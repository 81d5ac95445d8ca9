/** A studio for tests: a real server on 127.0.0.1 in front of a real embedded network, and a browser-like client. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startStudio, type RunningStudio, type StudioOptions } from '../src/studio/server.js';

export interface TestStudio extends RunningStudio {
  dataDir: string;
  /** Stops the studio and removes its folder. */
  end(): Promise<void>;
}

/** Settings with no configured network (so the embedded one starts), and nothing fetched from outside. */
export function studioTestEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS', 'LILYPAD_NETWORK']) delete env[name];
  env.LILYPAD_MODULE_ORG = 'file:///nonexistent/lilypad-module-{name}';
  return env;
}

export async function startTestStudio(options: Partial<StudioOptions> = {}): Promise<TestStudio> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-studio-test-'));
  const studio = await startStudio({ dataDir, port: 0, env: studioTestEnv(dataDir), ...options });
  return {
    ...studio,
    dataDir,
    async end() {
      await studio.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A signed-in browser, as far as cookies and CSRF tokens go. */
export class WebClient {
  private cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  async fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(this.baseUrl + pathname, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = pair!.split('=');
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name!);
      else this.cookies.set(name!, value!);
    }
    return response;
  }

  /** The CSRF token in a page's forms. */
  async csrfOf(pathname: string): Promise<string> {
    const page = await (await this.fetch(pathname)).text();
    const match = /name="csrf" value="([^"]+)"/.exec(page);
    if (!match) throw new Error(`no CSRF token on ${pathname}`);
    return match[1]!;
  }

  async post(pathname: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(pathname, { method: 'POST', body: new URLSearchParams(fields), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  }

  async signUp(email: string, password: string): Promise<Response> {
    return this.post('/signup', { csrf: await this.csrfOf('/signup'), email, password });
  }

  /** Creates an API key on the keys page and returns it, as the page shows it once. */
  async createKey(name: string): Promise<string> {
    const page = await (await this.post('/keys', { csrf: await this.csrfOf('/keys'), name })).text();
    const match = /data-new-key>([^<]+)</.exec(page);
    if (!match) throw new Error('the keys page showed no new key');
    return match[1]!;
  }

  hasSession(): boolean {
    return this.cookies.has('lilypad_session');
  }

  /** A cookie this browser holds. */
  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  /** Plants a cookie, as a script on a sibling site or a shared computer could. */
  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }
}

/** Reads a Server-Sent Events stream to its end: each event's name and parsed data. */
export async function readEvents(response: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event:'))?.slice(6).trim() ?? 'message';
      const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      return { event, data: JSON.parse(data) };
    });
}
