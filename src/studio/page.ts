/**
 * What every page of the web app shares: the request's signed-in user and session, the form of a POST
 * (read once), the CSRF field, the layout around a page, and the session cookie that signing in starts.
 * Pages added in files of their own (sign-in methods, chat, the dashboard) build on these.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { randomToken, sha256Hex } from './secrets.js';
import type { Session, StudioStore, User } from './store.js';

export const SESSION_COOKIE = 'lilypad_session';
/** Before sign-in there is no session to hold a CSRF token: the sign-in and sign-up forms double-submit this cookie. */
export const PRE_SESSION_CSRF_COOKIE = 'lilypad_csrf';
const SESSION_LIFETIME_MS = 30 * 24 * 3600 * 1000;

export type WebEnv = { Variables: { user?: User; session?: Session & { tokenHash: string } } };
export type Page = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface WebSessions {
  cookieOptions: { httpOnly: true; sameSite: 'Lax'; path: '/'; secure: boolean };
  /** Signs `user` in: a new session (never one the browser brought along), in an HTTP-only cookie. */
  start(c: Context<WebEnv>, user: User): void;
  /** The CSRF token of the forms shown before sign-in, set as a cookie when the browser has none. */
  preSessionCsrf(c: Context<WebEnv>): string;
}

export function webSessions(store: StudioStore, secureCookies: boolean): WebSessions {
  const cookieOptions = { httpOnly: true as const, sameSite: 'Lax' as const, path: '/' as const, secure: secureCookies };
  return {
    cookieOptions,
    start(c, user) {
      const token = randomToken();
      store.addSession(sha256Hex(token), user.id, randomToken(), SESSION_LIFETIME_MS);
      setCookie(c, SESSION_COOKIE, token, { ...cookieOptions, maxAge: SESSION_LIFETIME_MS / 1000 });
      deleteCookie(c, PRE_SESSION_CSRF_COOKIE, { path: '/' });
    },
    preSessionCsrf(c) {
      let token = getCookie(c, PRE_SESSION_CSRF_COOKIE);
      if (!token) {
        token = randomToken();
        setCookie(c, PRE_SESSION_CSRF_COOKIE, token, cookieOptions);
      }
      return token;
    },
  };
}

/** The form fields of a POST (parsed once per request, as the CSRF check and the route both read them). */
export async function formOf(c: Context): Promise<Record<string, string>> {
  const cached = (c as unknown as { studioForm?: Record<string, string> }).studioForm;
  if (cached) return cached;
  let form: Record<string, string> = {};
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    const body = await c.req.parseBody();
    form = Object.fromEntries(Object.entries(body).filter(([, value]) => typeof value === 'string')) as Record<string, string>;
  }
  (c as unknown as { studioForm?: Record<string, string> }).studioForm = form;
  return form;
}

/** Where to go after signing in: a path on this site only (never `//host` or a full URL elsewhere). */
/** Where to go after sign-in, resolved as a browser would resolve it (`/\\host` and `/<tab>/host` are other sites to a browser): only a path on the studio is kept. */
export const safeNext = (next: string | undefined) => {
  if (!next?.startsWith('/')) return '/';
  const base = new URL('http://studio.invalid/');
  const url = new URL(next, base);
  return url.origin === base.origin ? url.pathname + url.search + url.hash : '/';
};

export function csrfField(c: Context<WebEnv>) {
  return html`<input type="hidden" name="csrf" value="${c.get('session')?.csrfToken ?? ''}">`;
}

export function layout(c: Context<WebEnv>, title: string, body: Page): Page {
  const user = c.get('user');
  const account = user
    ? html`<div class="account">
        <a class="credits" href="/credits" title="Credits and spending" data-credits>${credits(user.credits)}</a>
        <a class="email" href="/account/security" title="Passkeys and sign-in">${user.email}</a>
        <form method="post" action="/signout">${csrfField(c)}<button class="link" type="submit">Sign out</button></form>
      </div>`
    : html`<div class="account"><a href="/signin">Sign in</a><a class="button" href="/signup">Sign up</a></div>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Lilypad AI Studio</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header class="top"><div class="bar">
  <a class="brand" href="/"><span class="pad"></span>Lilypad AI Studio</a>
  <nav class="main">
    <a href="/">Modules</a>
    <a href="/dashboard">Network</a>
    ${user ? html`<a href="/chat">Chat</a><a href="/jobs">Jobs</a><a href="/uploads">Uploads</a><a href="/keys">API keys</a>` : ''}
  </nav>
  ${account}
</div></header>
<main>${body}</main>
</body>
</html>`;
}

export const credits = (count: number) => `${count} credit${count === 1 ? '' : 's'}`;
export const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
