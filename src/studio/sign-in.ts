/**
 * What the ways to sign in besides a password share: their settings (the studio's public origin, which
 * passkeys belong to, and the OpenID Connect provider), the challenges of a sign-in in progress (single-use,
 * bound to the browser that asked, expiring), the markup of their buttons, their page script and style, and
 * the page that says why a sign-in did not work.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Context, Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { z } from 'zod';
import { UserInputError } from '../lib/errors.js';
import { loadServiceConfig } from '../lib/service-config.js';
import { layout, PRE_SESSION_CSRF_COOKIE, type Page, type WebEnv } from './page.js';
import { sha256Hex } from './secrets.js';

export interface OidcSettings {
  issuer: URL;
  clientId: string;
  /** Absent for a public client: PKCE alone then proves the code is ours. */
  clientSecret?: string;
  /** On the button: "Sign in with <name>". */
  name: string;
}

export interface SignInSettings {
  /** The origin people open the studio at (LILYPAD_STUDIO_ORIGIN); unset: http://localhost:<port>. */
  origin?: string;
  oidc?: OidcSettings;
}

/** Where passkeys live: the configured origin and its host name, the relying party id. */
export interface PublicOrigin {
  origin: string;
  rpId: string;
  /** Why passkeys cannot work at this origin, when they cannot. */
  passkeysOff?: string;
}

const originSetting = z
  .string()
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be the address people open the studio at, such as https://studio.example.com or http://localhost:8787')
  .refine((v) => !URL.canParse(v) || new URL(v).origin === v.replace(/\/$/, ''), 'must be an origin only (scheme, host and port), with no path, such as https://studio.example.com');

const signInSchema = z.object({
  LILYPAD_STUDIO_ORIGIN: originSetting.optional(),
  LILYPAD_STUDIO_OIDC_ISSUER: z.string().refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be the provider\'s issuer URL, such as https://accounts.google.com').optional(),
  LILYPAD_STUDIO_OIDC_CLIENT_ID: z.string().optional(),
  LILYPAD_STUDIO_OIDC_CLIENT_SECRET: z.string().optional(),
  LILYPAD_STUDIO_OIDC_NAME: z.string().max(40, 'must be a short name for the button, such as GitHub').optional(),
});

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
export const isLoopbackUrl = (url: URL) => LOOPBACK_HOSTS.has(url.hostname) || url.hostname.startsWith('127.');

/** The sign-in settings from the studio's environment (the CLI puts its flags there). */
export function signInSettingsOf(env: NodeJS.ProcessEnv): SignInSettings {
  const settings = loadServiceConfig(signInSchema, { env, flags: {} });
  const issuer = settings.LILYPAD_STUDIO_OIDC_ISSUER;
  const clientId = settings.LILYPAD_STUDIO_OIDC_CLIENT_ID;
  if (!issuer && clientId) throw new UserInputError('LILYPAD_STUDIO_OIDC_CLIENT_ID is set but LILYPAD_STUDIO_OIDC_ISSUER is not: give the provider\'s issuer URL too', { code: 'config-invalid' });
  if (issuer && !clientId) throw new UserInputError('LILYPAD_STUDIO_OIDC_ISSUER is set but LILYPAD_STUDIO_OIDC_CLIENT_ID is not: give the client id the provider issued to the studio', { code: 'config-invalid' });
  let oidc: OidcSettings | undefined;
  if (issuer && clientId) {
    const issuerUrl = new URL(issuer);
    // Tokens travel from the provider to the studio: in clear text only on this machine.
    if (issuerUrl.protocol !== 'https:' && !isLoopbackUrl(issuerUrl)) {
      throw new UserInputError(`LILYPAD_STUDIO_OIDC_ISSUER ${issuer} must be an https:// URL (plain http is allowed only on this machine, for tests)`, { code: 'config-invalid' });
    }
    oidc = {
      issuer: issuerUrl,
      clientId,
      ...(settings.LILYPAD_STUDIO_OIDC_CLIENT_SECRET ? { clientSecret: settings.LILYPAD_STUDIO_OIDC_CLIENT_SECRET } : {}),
      name: settings.LILYPAD_STUDIO_OIDC_NAME?.trim() || issuerUrl.hostname,
    };
  }
  return { ...(settings.LILYPAD_STUDIO_ORIGIN ? { origin: new URL(settings.LILYPAD_STUDIO_ORIGIN).origin } : {}), ...(oidc ? { oidc } : {}) };
}

/** The public origin: the configured one, else http://localhost:<port> (a secure context, unlike 127.0.0.1 for WebAuthn). */
export function publicOriginOf(configured: string | undefined, port: number): PublicOrigin {
  const origin = configured ?? `http://localhost:${port}`;
  const url = new URL(origin);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    return { origin, rpId: host, passkeysOff: `Passkeys need the studio at a host name, and this studio's address ${origin} is an IP address. Its operator can set --origin (LILYPAD_STUDIO_ORIGIN) to a name, such as http://localhost:${url.port || 80}.` };
  }
  if (url.protocol === 'http:' && host !== 'localhost' && !host.endsWith('.localhost')) {
    return { origin, rpId: host, passkeysOff: `Passkeys need https: browsers offer them over plain http only at localhost, and this studio is at ${origin}.` };
  }
  return { origin, rpId: host };
}

/** Everything the sign-in routes need, besides the store and sessions. */
export interface SignInConfig {
  /** Known once the studio listens (the default origin names its port). */
  publicOrigin(): PublicOrigin;
  oidc?: OidcSettings;
}

// --- challenges ---

export const PASSKEY_CHALLENGE_TTL_MS = 5 * 60 * 1000;
export const OIDC_FLOW_TTL_MS = 10 * 60 * 1000;

/**
 * Who may answer a challenge: the session that asked, or before sign-in the browser holding the pre-session
 * cookie that the form's CSRF check already tied the request to. A stolen challenge is useless elsewhere.
 */
export function bindingOf(c: Context<WebEnv>): string | undefined {
  const session = c.get('session');
  if (session) return `session:${session.tokenHash}`;
  const preSession = getCookie(c, PRE_SESSION_CSRF_COOKIE);
  return preSession ? preSessionBinding(preSession) : undefined;
}

export const preSessionBinding = (preSessionToken: string) => `pre:${sha256Hex(preSessionToken)}`;

/** Challenges are kept by the hash of their value, so the database holds nothing a browser could answer with. */
export const challengeId = (value: string) => sha256Hex(value);

// --- pages ---

/** A sign-in that did not work, as a page that says why and what to do; never a bare error. */
export function signInProblem(c: Context<WebEnv>, message: string, status: 400 | 401 | 403 | 409 | 429 | 502): Response | Promise<Response> {
  return c.html(
    layout(c, 'Sign-in did not work', html`<div class="auth card">
      <h1>Sign-in did not work</h1>
      <div class="notice error" data-sign-in-problem>${message}</div>
      <p><a class="button" href="/signin">Back to sign in</a></p>
    </div>`),
    status,
  );
}

/**
 * The passkey and provider buttons under the password form of the sign-in and sign-up pages. The passkey
 * buttons run in the page script, which reads the configured origin from here and says, instead of failing,
 * when the page is open at another one.
 */
export function otherSignInMethods(c: Context<WebEnv>, config: SignInConfig, kind: 'signup' | 'signin', csrf: string, next?: string): Page {
  const { origin, passkeysOff } = config.publicOrigin();
  const oidc = config.oidc;
  return html`${signInAssets()}
    <div class="or"><span>or</span></div>
    <div class="methods" data-passkeys data-passkey-origin="${origin}" data-csrf="${csrf}" ${passkeysOff ? html`data-passkeys-off="${passkeysOff}"` : ''} ${next ? html`data-next="${next}"` : ''}>
      <div class="notice error" data-passkey-message hidden></div>
      ${kind === 'signup'
        ? html`<button class="secondary method" type="button" data-passkey-action="signup"><span class="icon key" aria-hidden="true"></span>Sign up with a passkey</button>
          <p class="hint">A passkey signs you in with your device's fingerprint, face or screen lock. Enter your email above; no password needed.</p>`
        : html`<button class="secondary method" type="button" data-passkey-action="signin"><span class="icon key" aria-hidden="true"></span>Sign in with a passkey</button>`}
      ${oidc
        ? html`<a class="button secondary method" href="/auth/oidc/start${next ? `?next=${encodeURIComponent(next)}` : ''}"><span class="icon provider" aria-hidden="true"></span>${kind === 'signup' ? 'Sign up' : 'Sign in'} with ${oidc.name}</a>`
        : ''}
    </div>`;
}

/** The page script and style of the sign-in methods, loaded by the pages that show them (scripts from 'self' only). */
export function signInAssets(): Page {
  return html`<link rel="stylesheet" href="/static/sign-in.css"><script src="/static/webauthn.js" defer></script><script src="/static/sign-in.js" defer></script>`;
}

const require = createRequire(import.meta.url);
/** SimpleWebAuthn's browser bundle (it defines `SimpleWebAuthnBrowser`), served as it ships. */
const WEBAUTHN_BUNDLE = readFileSync(path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');

export function serveSignInAssets(app: Hono<WebEnv>): void {
  const script = { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' };
  app.get('/static/webauthn.js', (c) => c.body(WEBAUTHN_BUNDLE, 200, script));
  app.get('/static/sign-in.js', (c) => c.body(SIGN_IN_SCRIPT, 200, script));
  app.get('/static/sign-in.css', (c) => c.body(SIGN_IN_STYLESHEET, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }));
}

const SIGN_IN_STYLESHEET = `
.or { display: flex; align-items: center; gap: 12px; color: var(--muted); font-size: .85rem; margin: 22px 0 16px; }
.or::before, .or::after { content: ""; flex: 1; border-top: 1px solid var(--line); }
.methods { display: grid; gap: 10px; margin-bottom: 20px; }
.method { width: 100%; display: flex; align-items: center; justify-content: center; gap: 10px; padding: 10px 18px; }
.methods .secondary:hover { background: var(--bg); color: var(--ink); }
button.method:disabled { opacity: .55; cursor: not-allowed; }
.methods .hint { font-size: .85rem; color: var(--muted); margin: 0; }
.methods .notice { margin: 0; font-size: .92rem; }
.icon { width: 18px; height: 18px; display: inline-block; background: currentColor; }
.icon.key { -webkit-mask: url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Cpath d='M7 14a5 5 0 1 1 4.9-6H22v4h-2v3h-3v-3h-5.1A5 5 0 0 1 7 14zm0-3a2 2 0 1 0 0-4 2 2 0 0 0 0 4z'/%3E%3C/svg%3E") center/contain no-repeat; mask: url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Cpath d='M7 14a5 5 0 1 1 4.9-6H22v4h-2v3h-3v-3h-5.1A5 5 0 0 1 7 14zm0-3a2 2 0 1 0 0-4 2 2 0 0 0 0 4z'/%3E%3C/svg%3E") center/contain no-repeat; }
.icon.provider { border-radius: 50%; background: radial-gradient(circle at 50% 50%, #fff 0 30%, currentColor 32%); }
.methods.narrow { max-width: 320px; margin-top: 16px; }
.security-list td:last-child { text-align: right; }
`;

/**
 * Passkey buttons: ask the studio for options (the CSRF token in a header), let the browser make or use the
 * passkey, send the answer back, and go where the studio says. Errors are said in the page, in words.
 */
const SIGN_IN_SCRIPT = `
(function () {
  var root = document.querySelector('[data-passkeys]');
  if (!root) return;
  var message = root.querySelector('[data-passkey-message]');
  var buttons = Array.prototype.slice.call(root.querySelectorAll('[data-passkey-action]'));
  function say(text, link) {
    message.textContent = text || '';
    if (link) { var a = document.createElement('a'); a.href = link; a.textContent = 'Open ' + link; message.appendChild(document.createTextNode(' ')); message.appendChild(a); }
    message.hidden = !text;
  }
  function off(why, link) { say(why, link); buttons.forEach(function (b) { b.disabled = true; }); }
  var origin = root.getAttribute('data-passkey-origin');
  var browser = window.SimpleWebAuthnBrowser;
  if (!buttons.length) return;
  if (root.getAttribute('data-passkeys-off')) return off(root.getAttribute('data-passkeys-off'));
  if (location.origin !== origin) {
    return off('Passkeys for this studio belong to ' + origin + ', but this page is open at ' + location.origin + ', so your browser would refuse them here.', origin + location.pathname + location.search);
  }
  if (!browser || !browser.browserSupportsWebAuthn()) return off('This browser cannot use passkeys. Use a current browser, or sign in another way.');
  function post(path, body) {
    return fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': root.getAttribute('data-csrf') }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (b) { if (!r.ok) throw new Error((b.error && b.error.message) || ('The studio answered ' + r.status + ': reload the page and try again.')); return b; }); });
  }
  function browserMessage(error) {
    if (error && error.name === 'NotAllowedError') return 'The passkey prompt was closed or timed out. Try again when you are ready.';
    if (error && error.name === 'InvalidStateError') return 'This device already holds a passkey for this account.';
    return (error && error.message) || 'The passkey did not work: try again.';
  }
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      var action = button.getAttribute('data-passkey-action');
      var body = {};
      if (action === 'signup') {
        var email = document.querySelector('input[name=email]');
        if (!email.value || !email.checkValidity()) { email.reportValidity(); say('Enter your email first: your account is made for it.'); return; }
        body.email = email.value;
      }
      if (root.getAttribute('data-next')) body.next = root.getAttribute('data-next');
      say('');
      button.disabled = true;
      post('/auth/passkey/' + action + '/options', body)
        .then(function (options) {
          var made = action === 'signin' ? browser.startAuthentication({ optionsJSON: options }) : browser.startRegistration({ optionsJSON: options });
          return made.then(function (response) { return post('/auth/passkey/' + action + '/verify', { response: response, next: body.next }); }, function (error) { throw new Error(browserMessage(error)); });
        })
        .then(function (done) { location.assign(done.redirect); })
        .catch(function (error) { button.disabled = false; say(error.message); });
    });
  });
})();
`;
