/**
 * A real OpenID Connect provider for tests (oidc-provider) on 127.0.0.1, with a login page and a consent
 * page of its own (oidc-provider's development pages pull fonts from the internet), and a person's visit to
 * it as plain HTTP requests for the tests that need no browser.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestAccount {
  password: string;
  email?: string;
  emailVerified?: boolean;
}

export interface TestProvider {
  issuer: string;
  /** Stops listening, and ends open connections. */
  stop(): Promise<void>;
}

/** The client the studio is registered as at the test provider. */
export const TEST_CLIENT = { id: 'lilypad-studio', secret: 'a-client-secret-for-tests-only' };

/** A studio's settings for signing in at the test provider on `issuerPort`, shown as "Test ID". */
export function studioOidcSettings(issuerPort: number): NodeJS.ProcessEnv {
  return {
    LILYPAD_STUDIO_OIDC_ISSUER: `http://127.0.0.1:${issuerPort}`,
    LILYPAD_STUDIO_OIDC_CLIENT_ID: TEST_CLIENT.id,
    LILYPAD_STUDIO_OIDC_CLIENT_SECRET: TEST_CLIENT.secret,
    LILYPAD_STUDIO_OIDC_NAME: 'Test ID',
  };
}

/** A port that was free a moment ago: the studio is told the issuer before the provider listens there. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startTestProvider(options: {
  port: number;
  client: { id: string; secret: string; redirectUri: string };
  accounts: Record<string, TestAccount>;
}): Promise<TestProvider> {
  const issuer = `http://127.0.0.1:${options.port}`;
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.client.id,
        client_secret: options.client.secret,
        redirect_uris: [options.client.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    jwks: { keys: [{ ...key, use: 'sig', alg: 'RS256', kid: 'test' }] },
    cookies: { keys: ['test-provider-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: async (_ctx: unknown, id: string) => {
      const account = options.accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: id, ...(account.email ? { email: account.email, email_verified: account.emailVerified ?? false } : {}) }),
      };
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
  });
  const callback = provider.callback();

  const page = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>Test ID</title></head><body style="font-family: sans-serif; max-width: 360px; margin: 60px auto">${body}</body></html>`);
  };
  const formOf = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return new URLSearchParams(text);
  };

  const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return page(res, 400, '<p>Unknown interaction.</p>');
    if (req.method === 'GET' && !action) {
      if (details.prompt.name === 'login') {
        return page(res, 200, `<h1>Test ID</h1><p>Sign in to continue to the studio.</p>
          <form method="post" action="/interaction/${uid}/login">
            <p><label>Username <input name="login" autocomplete="off"></label></p>
            <p><label>Password <input name="password" type="password"></label></p>
            <p><button type="submit">Continue</button></p>
          </form>`);
      }
      return page(res, 200, `<h1>Test ID</h1><p>The studio asks to see your email address.</p>
        <form method="post" action="/interaction/${uid}/consent"><button type="submit" name="decision" value="allow">Allow</button>
        <button type="submit" name="decision" value="deny">Deny</button></form>`);
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await formOf(req);
      const account = options.accounts[form.get('login') ?? ''];
      if (!account || account.password !== form.get('password')) return page(res, 401, '<p>Wrong username or password.</p>');
      return provider.interactionFinished(req, res, { login: { accountId: form.get('login') } }, { mergeWithLastSubmission: false });
    }
    if (req.method === 'POST' && action === 'consent') {
      const form = await formOf(req);
      if (form.get('decision') !== 'allow') {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person denied the request' }, { mergeWithLastSubmission: false });
      }
      const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    }
    return page(res, 404, '<p>Not found.</p>');
  };

  const server: Server = createServer((req, res) => {
    const match = /^\/interaction\/([^/?]+)(?:\/(login|consent))?(?:\?|$)/.exec(req.url ?? '');
    if (!match) return callback(req, res);
    interaction(req, res, match[1]!, match[2]).catch((error) => page(res, 500, `<p>${String(error)}</p>`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  return {
    issuer,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A person at the provider, without a browser: follows redirects and keeps the provider's cookies, signs in,
 * allows or denies, and returns the URL the provider sends the browser back to (not followed).
 */
export async function visitProvider(authorizationUrl: string, login: { username: string; password: string; decision: 'allow' | 'deny' }, returnTo: string): Promise<URL> {
  const cookies = new Map<string, string>();
  const request = async (url: URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    return response;
  };
  let url = new URL(authorizationUrl);
  let response = await request(url);
  for (let hop = 0; hop < 20; hop++) {
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url);
      if (url.href.startsWith(returnTo)) return url;
      response = await request(url);
      continue;
    }
    const page = await response.text();
    const action = /action="([^"]+)"/.exec(page)?.[1];
    if (!action) throw new Error(`the provider showed a page with no form (${response.status}): ${page.replace(/<style[^]*?<\/style>/g, "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 400)}`);
    const form: Record<string, string> = action.endsWith('/login') ? { login: login.username, password: login.password } : { decision: login.decision };
    url = new URL(action, url);
    response = await request(url, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
  throw new Error('the provider redirected more than 20 times');
}
