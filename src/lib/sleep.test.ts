import { describe, expect, it } from 'vitest';
import { Mailbox, sleep } from './sleep.js';

/** An AbortSignal that counts the abort listeners it holds. */
function countingSignal() {
  const controller = new AbortController();
  const { signal } = controller;
  let listeners = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => {
    listeners++;
    add(type, listener, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener) => {
    listeners--;
    remove(type, listener);
  }) as typeof signal.removeEventListener;
  return { controller, signal, listeners: () => listeners };
}

describe('sleep', () => {
  it('leaves no abort listener behind, however often a loop sleeps', async () => {
    const { signal, listeners } = countingSignal();
    for (let i = 0; i < 20; i++) await sleep(0, signal);
    expect(listeners()).toBe(0);
  });

  it('rejects at once when stopped, with the caller’s error or the signal’s reason', async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal, () => new Error('stopped here'));
    controller.abort();
    await expect(slept).rejects.toThrow('stopped here');
    await expect(sleep(60_000, controller.signal)).rejects.toBe(controller.signal.reason);
  });
});

describe('Mailbox', () => {
  it('hands out messages in order, wakes a waiting loop, and says when the time came first', async () => {
    const { signal, listeners } = countingSignal();
    const mailbox = new Mailbox<string>();
    mailbox.push('first');
    expect(await mailbox.next(60_000, signal)).toBe('first');
    const waiting = mailbox.next(60_000, signal);
    mailbox.push('second');
    expect(await waiting).toBe('second');
    expect(await mailbox.next(0, signal)).toBeUndefined();
    expect(listeners()).toBe(0);
  });

  it('rejects a waiting loop once stopped', async () => {
    const controller = new AbortController();
    const mailbox = new Mailbox<string>();
    const waiting = mailbox.next(60_000, controller.signal, () => new Error('cancelled'));
    controller.abort();
    await expect(waiting).rejects.toThrow('cancelled');
  });
});
