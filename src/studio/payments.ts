/**
 * How people get credits. One interface, so that the free beta and a paid provider are interchangeable; the
 * studio only calls `signupCredits` and `topUp`.
 *
 * A Stripe provider would need: a secret key and a webhook signing secret in the studio's settings; `topUp`
 * creating a Checkout Session (price per credit pack, the user's id in its metadata, success and cancel URLs
 * back to /credits) and answering `{ redirect: session.url }`; a `POST /payments/stripe/webhook` route that
 * checks the Stripe-Signature header and, on `checkout.session.completed`, grants the credits once per
 * session id (idempotent, as webhooks are retried); and refunds or disputes taking credits back.
 */
import type { StudioStore, User } from './store.js';

export interface PaymentProvider {
  /** Shown on the credits page. */
  name: string;
  description: string;
  /** Credits a new account starts with. */
  signupCredits: number;
  /** Credits offered by one top-up. */
  topUpCredits: number;
  /** Either the credits are granted now, or the person is sent to the provider to pay. */
  topUp(user: User, store: StudioStore): Promise<{ granted: number } | { redirect: string } | { refused: string }>;
}

/** During the beta credits are free: 100 at sign-up, 100 more on request while the balance is under 1,000. */
export function freeBetaPayments(options: { signupCredits?: number; topUpCredits?: number; maxBalance?: number } = {}): PaymentProvider {
  const signupCredits = options.signupCredits ?? 100;
  const topUpCredits = options.topUpCredits ?? 100;
  const maxBalance = options.maxBalance ?? 1000;
  return {
    name: 'Free beta',
    description: `Credits are free while the studio is in beta: ${topUpCredits} more whenever you ask, up to a balance of ${maxBalance}.`,
    signupCredits,
    topUpCredits,
    async topUp(user, store) {
      // The balance now, not as the request found it: top-ups asked for at once must not pass the cap together.
      const { credits } = store.user(user.id) ?? user;
      if (credits + topUpCredits > maxBalance) return { refused: `you have ${credits} credits; free top-ups stop at ${maxBalance}` };
      store.grantCredits(user.id, topUpCredits, 'free beta top-up');
      return { granted: topUpCredits };
    },
  };
}
