/**
 * Sign-in with an OpenID Connect provider (openid-client): the authorization code flow with PKCE, state and
 * nonce, the provider found by discovery from its issuer URL. The flow's secrets wait in a challenge bound to
 * the browser that started it; `/auth/oidc/callback` takes them once.
 *
 * Linking: the account already linked to the provider's (issuer, sub) signs in. Otherwise the provider's
 * email is used only when the provider says it verified it (`email_verified`): it then links the account
 * with that email, or makes one with the sign-up credits. An unverified email is refused with a page that
 * says so, as it would let whoever controls that provider account take over, or squat, the studio account.
 */
import { Hono } from 'hono';
import * as client from 'openid-client';
import { safeNext, type WebEnv, type WebSessions } from './page.js';
import type { PaymentProvider } from './payments.js';
import { bindingOf, challengeId, isLoopbackUrl, OIDC_FLOW_TTL_MS, preSessionBinding, signInProblem, type OidcSettings, type SignInConfig } from './sign-in.js';
import type { StudioStore, User } from './store.js';

/** Seconds to wait for the provider's discovery, token and userinfo answers. */
const PROVIDER_TIMEOUT_S = 10;

export function createOidcApp(components: { store: StudioStore; sessions: WebSessions; config: SignInConfig; settings: OidcSettings; payments: PaymentProvider }): Hono<WebEnv> {
  const { store, sessions, config, settings, payments } = components;
  const app = new Hono<WebEnv>();
  const name = settings.name;
  const redirectUri = () => `${config.publicOrigin().origin}/auth/oidc/callback`;

  // Discovered once; a failed discovery is tried again on the next sign-in rather than remembered.
  let discovered: Promise<client.Configuration> | undefined;
  const provider = () =>
    (discovered ??= client
      .discovery(
        settings.issuer,
        settings.clientId,
        settings.clientSecret,
        settings.clientSecret ? client.ClientSecretPost(settings.clientSecret) : client.None(),
        { execute: isLoopbackUrl(settings.issuer) ? [client.allowInsecureRequests] : [], timeout: PROVIDER_TIMEOUT_S },
      )
      .catch((error) => {
        discovered = undefined;
        throw error;
      }));

  // A link, not a form: the page's CSP lets forms go to the studio only, and a form's redirect counts.
  app.get('/auth/oidc/start', async (c) => {
    if (c.get('user')) return c.redirect('/', 303);
    let configuration: client.Configuration;
    try {
      configuration = await provider();
    } catch (error) {
      return signInProblem(c, `${name} is not answering (${describe(error)}). Try again in a moment, or sign in another way.`, 502);
    }
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    // Bound to this browser's pre-session cookie (set now if it has none): only it can finish the sign-in.
    const binding = preSessionBinding(sessions.preSessionCsrf(c));
    if (!store.addChallenge(challengeId(state), { kind: 'oidc', binding, data: { verifier, nonce, next: safeNext(c.req.query('next')) } }, OIDC_FLOW_TTL_MS)) {
      return signInProblem(c, 'Too many sign-ins are in progress on this studio: try again in a minute.', 429);
    }
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri(),
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return c.redirect(url.href, 303);
  });

  app.get('/auth/oidc/callback', async (c) => {
    const state = c.req.query('state');
    if (!state) return signInProblem(c, `The answer from ${name} carried no sign-in state, so the studio cannot tell which sign-in it ends. Start again.`, 400);
    const flow = store.takeChallenge(challengeId(state));
    if (!flow || flow.kind !== 'oidc') return signInProblem(c, `This sign-in with ${name} was already used or is not one the studio started. Start again.`, 400);
    if (flow.binding !== bindingOf(c)) {
      return signInProblem(c, `This sign-in with ${name} was started in another browser (or this browser's cookies were cleared meanwhile). Start again here.`, 400);
    }
    if (flow.expired) return signInProblem(c, `This sign-in with ${name} took too long (more than ${OIDC_FLOW_TTL_MS / 60000} minutes). Start again.`, 400);
    const denied = c.req.query('error');
    if (denied) {
      const why = c.req.query('error_description');
      return denied === 'access_denied'
        ? signInProblem(c, `${name} did not sign you in: the sign-in was cancelled or not allowed there. Try again, or sign in another way.`, 403)
        : signInProblem(c, `${name} refused the sign-in (${denied}${why ? `: ${why}` : ''}). Try again, or sign in another way.`, 400);
    }

    let configuration: client.Configuration;
    let claims: { iss: string; sub: string; email?: unknown; email_verified?: unknown };
    try {
      configuration = await provider();
      // The URL the provider sent the browser to, rebuilt on the configured origin (not the Host header).
      const callbackUrl = new URL(redirectUri());
      callbackUrl.search = new URL(c.req.url).search;
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: flow.data.verifier!,
        expectedState: state,
        expectedNonce: flow.data.nonce!,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims()!;
      claims = { ...idClaims };
      // Providers that keep the email out of the ID token give it at their userinfo endpoint.
      if (typeof claims.email !== 'string') {
        const info = await client.fetchUserInfo(configuration, tokens.access_token, idClaims.sub);
        claims = { ...claims, email: info.email, email_verified: info.email_verified };
      }
    } catch (error) {
      if (error instanceof client.ResponseBodyError) {
        return signInProblem(c, `${name} refused the sign-in (${error.error}${error.error_description ? `: ${error.error_description}` : ''}). Start again.`, 400);
      }
      if (isNetworkError(error)) return signInProblem(c, `${name} is not answering (${describe(error)}). Try again in a moment, or sign in another way.`, 502);
      return signInProblem(c, `${name}'s answer did not check out (${describe(error)}), so the studio did not sign you in. Start again.`, 400);
    }

    const outcome = accountFor(store, payments, name, claims);
    if (typeof outcome === 'string') return signInProblem(c, outcome, 409);
    sessions.start(c, outcome);
    return c.redirect(safeNext(flow.data.next), 303);
  });

  return app;
}

/** The account these verified claims sign in to (found, linked or made), or why none. */
function accountFor(store: StudioStore, payments: PaymentProvider, name: string, claims: { iss: string; sub: string; email?: unknown; email_verified?: unknown }): User | string {
  const linked = store.oidcUser(claims.iss, claims.sub);
  if (linked) return linked;
  const email = typeof claims.email === 'string' ? claims.email.trim() : '';
  if (!email) return `${name} did not share your email address, which the studio needs for your account. Allow the studio to see your email at ${name}, then try again.`;
  if (claims.email_verified !== true && claims.email_verified !== 'true') {
    return `${name} has not verified that ${email} is yours, so the studio cannot use it. Verify it at ${name} and try again, or sign up with a password or a passkey.`;
  }
  return store.transaction(() => {
    const user = store.userByEmail(email) ?? store.createUser(email, '', payments.signupCredits, 'welcome credits (free beta)');
    store.linkOidcIdentity(claims.iss, claims.sub, user.id);
    return user;
  });
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}

function isNetworkError(error: unknown): boolean {
  const name = (error as Error)?.name;
  return name === 'TimeoutError' || name === 'AbortError' || (error instanceof TypeError && /fetch failed/.test(error.message));
}
