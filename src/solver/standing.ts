/**
 * What the solver knows of each resource provider beyond its signed offers, which matching asks about
 * (the fit of `misfitOf` in matcher.ts takes only what the offers say; this is what keeps a fake or absent provider from
 * stalling jobs): the provider's free escrow as last read from the chain, whether it is subscribed to its
 * deals (so that it hears of a match at all), and whether it lately let a matched deal go unagreed. The
 * escrow is a cache, refreshed by the solver from the chain (solver.ts); the rest is the solver's own
 * observation. Addresses are lower case.
 */
import type { Address } from 'viem';
import { escrowBalance, type LilypadPublicClient } from '../chain/index.js';

/** Reads an account's free escrow (what it can lock into new deals) from the deal contract. */
export type FreeEscrow = (account: Address) => Promise<bigint>;

export function chainFreeEscrow(publicClient: LilypadPublicClient, deals: Address): FreeEscrow {
  return async (account) => (await escrowBalance(publicClient, { deals, account })).free;
}

/**
 * When a provider's time to agree a matched deal starts: when the job creator accepted the match, since the
 * provider cannot agree before. No clock runs while the match waits for its job creator (a detached job
 * waits for `lilypad get`), and the provider is not blamed for that.
 */
export function agreementClockStart(deal: { matchedAtMs: number; acceptedAtMs?: number }): number | undefined {
  return deal.acceptedAtMs;
}

export interface ProviderStandingOptions {
  /** How long a provider whose last subscription closed keeps its offers before `onGone`. */
  graceMs: number;
  /** How long a provider that let a matched deal go unagreed is not matched. */
  pauseMs: number;
  /** Called once a provider has stayed away for the grace. */
  onGone: (provider: string) => void;
  clock?: () => number;
}

export class ProviderStanding {
  private readonly escrow = new Map<string, bigint>();
  private readonly subscriptions = new Map<string, number>();
  private readonly goneTimers = new Map<string, NodeJS.Timeout>();
  private readonly pausedUntil = new Map<string, number>();
  private readonly clock: () => number;

  constructor(private readonly options: ProviderStandingOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Free escrow as last read; nothing until it has been read. */
  freeEscrow(provider: string): bigint {
    return this.escrow.get(provider) ?? 0n;
  }

  /** Records a fresh read; true when the provider can now lock more than before. */
  setFreeEscrow(provider: string, free: bigint): boolean {
    const before = this.escrow.get(provider) ?? 0n;
    this.escrow.set(provider, free);
    return free > before;
  }

  connected(provider: string): boolean {
    return (this.subscriptions.get(provider) ?? 0) > 0;
  }

  /** A subscription of the provider's opened; true when it was not connected before. */
  subscribed(provider: string): boolean {
    const count = this.subscriptions.get(provider) ?? 0;
    this.subscriptions.set(provider, count + 1);
    clearTimeout(this.goneTimers.get(provider));
    this.goneTimers.delete(provider);
    return count === 0;
  }

  /** A subscription of the provider's closed; with none left, the grace starts. */
  unsubscribed(provider: string): void {
    const count = (this.subscriptions.get(provider) ?? 0) - 1;
    if (count > 0) {
      this.subscriptions.set(provider, count);
      return;
    }
    this.subscriptions.delete(provider);
    clearTimeout(this.goneTimers.get(provider));
    const timer = setTimeout(() => {
      this.goneTimers.delete(provider);
      if (!this.connected(provider)) this.options.onGone(provider);
    }, this.options.graceMs);
    timer.unref();
    this.goneTimers.set(provider, timer);
  }

  pause(provider: string): void {
    this.pausedUntil.set(provider, this.clock() + this.options.pauseMs);
  }

  paused(provider: string): boolean {
    const until = this.pausedUntil.get(provider);
    return until !== undefined && until > this.clock();
  }

  /** Forgets pauses that are over; true when any was, so that waiting job offers are matched again. */
  endPauses(): boolean {
    let ended = false;
    for (const [provider, until] of this.pausedUntil) {
      if (until <= this.clock()) {
        this.pausedUntil.delete(provider);
        ended = true;
      }
    }
    return ended;
  }

  close(): void {
    for (const timer of this.goneTimers.values()) clearTimeout(timer);
    this.goneTimers.clear();
    this.subscriptions.clear();
  }
}
