/**
 * Passkeys (WebAuthn, with SimpleWebAuthn): sign up with an email and a passkey, sign in with a passkey alone
 * (a discoverable credential: no email typed), and add or remove passkeys on the account's security page.
 * Each ceremony is two JSON POSTs (options, then the browser's answer); the challenge between them is
 * single-use, bound to the browser's pre-session or session, and expires. The relying party is the
 * configured public origin, never the request's Host header.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { Hono, type Context } from 'hono';
import { html } from 'hono/html';
import { csrfField, day, layout, safeNext, type Page, type WebEnv, type WebSessions } from './page.js';
import type { PaymentProvider } from './payments.js';
import { randomToken } from './secrets.js';
import { bindingOf, challengeId, PASSKEY_CHALLENGE_TTL_MS, signInAssets, type SignInConfig } from './sign-in.js';
import type { Passkey, StudioStore, User } from './store.js';

const RP_NAME = 'Lilypad AI Studio';
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

type Ceremony = 'signup' | 'signin' | 'add';
type Refusal = { status: 400 | 401 | 403 | 409 | 429; code: string; message: string };

export function createPasskeyApp(components: { store: StudioStore; sessions: WebSessions; config: SignInConfig; payments: PaymentProvider }): Hono<WebEnv> {
  const { store, sessions, config, payments } = components;
  const app = new Hono<WebEnv>();
  const refuse = (c: Context<WebEnv>, refusal: Refusal) => c.json({ error: { code: refusal.code, message: refusal.message } }, refusal.status);
  const body = async (c: Context<WebEnv>): Promise<Record<string, unknown>> => {
    try {
      const parsed = await c.req.json();
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch {
      return {};
    }
  };
  /** Passkeys cannot work at an IP address or over http away from localhost: say so before any ceremony. */
  const unusable = (): Refusal | undefined => {
    const why = config.publicOrigin().passkeysOff;
    return why ? { status: 400, code: 'passkeys-unavailable', message: why } : undefined;
  };
  /** Keeps the challenge for its answer and sends the options; a refusal when too many sign-ins are in progress. */
  const remember = (c: Context<WebEnv>, kind: Ceremony, challenge: string, data: Record<string, string>, options: object) =>
    store.addChallenge(challengeId(challenge), { kind, binding: bindingOf(c)!, data: { ...data, challenge } }, PASSKEY_CHALLENGE_TTL_MS)
      ? c.json(options)
      : refuse(c, { status: 429, code: 'sign-ins-busy', message: 'Too many sign-ins are in progress on this studio: try again in a minute.' });

  /**
   * The challenge that this answer signed, taken (so it is never answered twice), checked to be of this
   * ceremony, given to this browser, in time, and signed at the studio's origin.
   */
  const takeChallenge = (c: Context<WebEnv>, kind: Ceremony, response: { response?: { clientDataJSON?: unknown } }): { challenge: Record<string, string> } | Refusal => {
    let clientData: { challenge?: unknown; origin?: unknown };
    try {
      clientData = JSON.parse(Buffer.from(String(response.response?.clientDataJSON ?? ''), 'base64url').toString('utf8'));
    } catch {
      return { status: 400, code: 'passkey-malformed', message: 'The browser\'s passkey answer could not be read: reload the page and try again.' };
    }
    const { origin } = config.publicOrigin();
    if (typeof clientData.origin === 'string' && clientData.origin !== origin) {
      return { status: 400, code: 'passkey-wrong-origin', message: `This passkey was used at ${clientData.origin}, but the studio's passkeys belong to ${origin}: open ${origin} and try again.` };
    }
    const challenge = store.takeChallenge(challengeId(String(clientData.challenge ?? '')));
    if (!challenge || challenge.kind !== kind || challenge.binding !== bindingOf(c)) {
      return { status: 400, code: 'passkey-challenge-unknown', message: 'This passkey answer was already used, or was not asked for by this browser: reload the page and try again.' };
    }
    if (challenge.expired) return { status: 400, code: 'passkey-challenge-expired', message: 'The passkey prompt took too long: try again.' };
    return { challenge: challenge.data };
  };

  const registrationOptions = (user: { email: string; handle: string }, exclude: Passkey[]) =>
    generateRegistrationOptions({
      rpName: RP_NAME,
      rpID: config.publicOrigin().rpId,
      userName: user.email,
      userID: Buffer.from(user.handle, 'base64url'),
      attestationType: 'none',
      excludeCredentials: exclude.map((p) => ({ id: p.id, transports: p.transports })),
      // A passkey is the whole sign-in here, so it must be discoverable and check the person (PIN, biometrics).
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });

  const verifyRegistration = async (response: RegistrationResponseJSON, challenge: string): Promise<Omit<Passkey, 'userId' | 'userHandle' | 'createdAt'> | Refusal> => {
    try {
      const { origin, rpId } = config.publicOrigin();
      const verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpId, requireUserVerification: true });
      if (!verified.verified) return { status: 400, code: 'passkey-refused', message: 'The passkey could not be verified: try again.' };
      const { credential, credentialBackedUp } = verified.registrationInfo;
      return { id: credential.id, publicKey: credential.publicKey, counter: credential.counter, transports: credential.transports ?? [], backedUp: credentialBackedUp };
    } catch (error) {
      return { status: 400, code: 'passkey-refused', message: `The passkey could not be verified (${(error as Error).message}): try again.` };
    }
  };

  // --- sign up: an email and a passkey, no password ---

  app.post('/auth/passkey/signup/options', async (c) => {
    const off = unusable();
    if (off) return refuse(c, off);
    if (c.get('user')) return refuse(c, { status: 400, code: 'signed-in', message: 'You are signed in already: add a passkey on your account\'s security page.' });
    const email = String((await body(c)).email ?? '').trim();
    if (!EMAIL.test(email)) return refuse(c, { status: 400, code: 'email-malformed', message: 'Enter an email address, such as ada@example.com.' });
    if (store.userByEmail(email)) return refuse(c, { status: 409, code: 'account-exists', message: `An account for ${email} already exists: sign in, then add a passkey on your account's security page.` });
    const handle = randomToken(32);
    const options = await registrationOptions({ email, handle }, []);
    return remember(c, 'signup', options.challenge, { email, handle }, options);
  });

  app.post('/auth/passkey/signup/verify', async (c) => {
    const request = await body(c);
    const response = request.response as RegistrationResponseJSON;
    const answered = takeChallenge(c, 'signup', response ?? {});
    if ('status' in answered) return refuse(c, answered);
    const taken = answered.challenge;
    const passkey = await verifyRegistration(response, taken.challenge!);
    if ('status' in passkey) return refuse(c, passkey);
    let user: User;
    try {
      user = store.transaction(() => {
        const created = store.createUser(taken.email!, '', payments.signupCredits, 'welcome credits (free beta)');
        store.addPasskey({ ...passkey, userId: created.id, userHandle: taken.handle! });
        return created;
      });
    } catch (error) {
      if ((error as { code?: string }).code !== 'account-exists') throw error;
      return refuse(c, { status: 409, code: 'account-exists', message: `An account for ${taken.email} was made meanwhile: sign in instead.` });
    }
    sessions.start(c, user);
    return c.json({ redirect: safeNext(String(request.next ?? '')) });
  });

  // --- sign in: the passkey names the account ---

  app.post('/auth/passkey/signin/options', async (c) => {
    const off = unusable();
    if (off) return refuse(c, off);
    const options = await generateAuthenticationOptions({ rpID: config.publicOrigin().rpId, userVerification: 'required' });
    return remember(c, 'signin', options.challenge, {}, options);
  });

  app.post('/auth/passkey/signin/verify', async (c) => {
    const request = await body(c);
    const response = request.response as AuthenticationResponseJSON;
    const answered = takeChallenge(c, 'signin', response ?? {});
    if ('status' in answered) return refuse(c, answered);
    const taken = answered.challenge;
    const outcome = await verifySignIn(store, config, response, taken.challenge!);
    if ('status' in outcome) return refuse(c, outcome);
    sessions.start(c, outcome);
    return c.json({ redirect: safeNext(String(request.next ?? '')) });
  });

  // --- the account's passkeys ---

  app.post('/auth/passkey/add/options', async (c) => {
    const user = c.get('user');
    if (!user) return refuse(c, { status: 401, code: 'unauthenticated', message: 'Sign in first, then add a passkey.' });
    const off = unusable();
    if (off) return refuse(c, off);
    const existing = store.passkeysOf(user.id);
    // One user handle per account: an authenticator then keeps one passkey for it, not one per addition.
    const handle = existing[0]?.userHandle ?? randomToken(32);
    const options = await registrationOptions({ email: user.email, handle }, existing);
    return remember(c, 'add', options.challenge, { handle, userId: String(user.id) }, options);
  });

  app.post('/auth/passkey/add/verify', async (c) => {
    const user = c.get('user');
    if (!user) return refuse(c, { status: 401, code: 'unauthenticated', message: 'Sign in first, then add a passkey.' });
    const response = (await body(c)).response as RegistrationResponseJSON;
    const answered = takeChallenge(c, 'add', response ?? {});
    if ('status' in answered) return refuse(c, answered);
    const taken = answered.challenge;
    if (taken.userId !== String(user.id)) return refuse(c, { status: 403, code: 'passkey-challenge-unknown', message: 'This passkey was asked for by another account: reload the page.' });
    const passkey = await verifyRegistration(response, taken.challenge!);
    if ('status' in passkey) return refuse(c, passkey);
    if (store.passkey(passkey.id)) return refuse(c, { status: 409, code: 'passkey-exists', message: 'This passkey is already registered.' });
    store.addPasskey({ ...passkey, userId: user.id, userHandle: taken.handle! });
    return c.json({ redirect: '/account/security?notice=' + encodeURIComponent('Passkey added. You can sign in with it now.') });
  });

  app.get('/account/security', (c) => {
    const user = c.get('user');
    if (!user) return c.redirect(`/signin?next=${encodeURIComponent('/account/security')}`, 303);
    return c.html(layout(c, 'Security', securityPage(c, store, config, user, c.req.query('notice'), c.req.query('error'))));
  });

  app.post('/account/passkeys/:id/remove', (c) => {
    const user = c.get('user');
    if (!user) return c.redirect('/signin', 303);
    const id = c.req.param('id');
    const others = store.passkeysOf(user.id).filter((p) => p.id !== id).length;
    // Removing the last way in would lock the person out for good.
    if (user.passwordHash === '' && others === 0 && store.oidcIssuersOf(user.id).length === 0) {
      return c.redirect('/account/security?error=' + encodeURIComponent('This passkey is the only way into your account: add another passkey first, then remove this one.'), 303);
    }
    const removed = store.removePasskey(user.id, id);
    return c.redirect('/account/security?notice=' + encodeURIComponent(removed ? 'Passkey removed: it no longer signs you in.' : 'No such passkey of yours.'), 303);
  });

  return app;
}

/**
 * Checks a passkey sign-in against the stored credential, and moves its signature counter (compare-and-set:
 * a signature counts once). The account it signs in, or why not.
 */
async function verifySignIn(store: StudioStore, config: SignInConfig, response: AuthenticationResponseJSON, challenge: string): Promise<User | Refusal> {
  const passkey = typeof response.id === 'string' ? store.passkey(response.id) : undefined;
  if (!passkey) return { status: 401, code: 'passkey-unknown', message: 'This passkey is not registered with the studio (it may have been removed): sign in another way, or sign up.' };
  if (response.response?.userHandle && response.response.userHandle !== passkey.userHandle) {
    return { status: 401, code: 'passkey-refused', message: 'This passkey belongs to another account: try again.' };
  }
  const { origin, rpId } = config.publicOrigin();
  let newCounter: number;
  try {
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpId,
      credential: { id: passkey.id, publicKey: passkey.publicKey, counter: passkey.counter, transports: passkey.transports },
      requireUserVerification: true,
    });
    if (!verified.verified) return { status: 401, code: 'passkey-refused', message: 'The passkey\'s signature did not verify: try again.' };
    newCounter = verified.authenticationInfo.newCounter;
  } catch (error) {
    return { status: 401, code: 'passkey-refused', message: `The passkey was refused (${(error as Error).message}): try again.` };
  }
  if (!store.usePasskey(passkey.id, passkey.counter, newCounter)) return { status: 401, code: 'passkey-replayed', message: 'This passkey signature was already used: try again.' };
  const user = store.user(passkey.userId);
  return user ?? { status: 401, code: 'passkey-unknown', message: 'The account of this passkey is gone: sign up again.' };
}

function securityPage(c: Context<WebEnv>, store: StudioStore, config: SignInConfig, user: User, notice?: string, error?: string): Page {
  const passkeys = store.passkeysOf(user.id);
  const providers = store.oidcIssuersOf(user.id);
  return html`${signInAssets()}
  <h1>Security</h1>
  <p class="lead">How you sign in to ${user.email}.</p>
  ${notice ? html`<div class="notice ok">${notice}</div>` : ''}
  ${error ? html`<div class="notice error">${error}</div>` : ''}
  <h2>Passkeys</h2>
  <p class="muted">A passkey signs you in with your device's fingerprint, face or screen lock, and cannot be phished: it works only on this studio's site.</p>
  ${passkeys.length === 0
    ? html`<p class="muted">No passkeys yet.</p>`
    : html`<table class="security-list"><thead><tr><th>Passkey</th><th>Added</th><th>Last used</th><th></th></tr></thead><tbody>
      ${passkeys.map((p) => html`<tr data-passkey="${p.id}"><td>${p.backedUp ? 'Synced passkey' : 'Device passkey'} <code>${p.id.slice(0, 8)}…</code></td><td>${day(p.createdAt)}</td>
        <td>${p.lastUsedAt ? day(p.lastUsedAt) : 'never'}</td>
        <td><form method="post" action="/account/passkeys/${p.id}/remove">${csrfField(c)}<button class="danger" type="submit">Remove</button></form></td></tr>`)}
    </tbody></table>`}
  <div class="methods narrow" data-passkeys data-passkey-origin="${config.publicOrigin().origin}" data-csrf="${c.get('session')?.csrfToken ?? ''}"
    ${config.publicOrigin().passkeysOff ? html`data-passkeys-off="${config.publicOrigin().passkeysOff}"` : ''}>
    <div class="notice error" data-passkey-message hidden></div>
    <button class="method" type="button" data-passkey-action="add"><span class="icon key" aria-hidden="true"></span>Add a passkey</button>
  </div>
  <h2>Other ways to sign in</h2>
  <table><tbody>
    <tr><td>Password</td><td>${user.passwordHash ? 'Set' : html`<span class="muted">None: this account signs in with a passkey${config.oidc ? ` or ${config.oidc.name}` : ''}</span>`}</td></tr>
    ${config.oidc ? html`<tr><td>${config.oidc.name}</td><td>${providers.length > 0 ? 'Linked' : html`<span class="muted">Not linked</span>`}</td></tr>` : ''}
  </tbody></table>`;
}
