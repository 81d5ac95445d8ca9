import { describe, expect, it } from 'vitest';
import { ExecutorError } from '../../lib/errors.js';
import { createGpuPool } from './gpu-pool.js';

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('the GPU pool', () => {
  it('gives jobs running at once different cards, and a job that needs more waits for them', async () => {
    const pool = createGpuPool(['0', '1', '2']);
    const a = await pool.take('a', 1);
    const b = await pool.take('b', 2);
    expect([...a.deviceIds, ...b.deviceIds].sort()).toEqual(['0', '1', '2']);
    let cGot: string[] | undefined;
    const c = pool.take('c', 2).then((lease) => ((cGot = lease.deviceIds), lease));
    await settled();
    expect(cGot).toBeUndefined();
    a.release();
    await settled();
    expect(cGot).toBeUndefined(); // one card free, two needed
    b.release();
    expect((await c).deviceIds).toEqual(['0', '1']);
  });

  it('serves waiting jobs in order: a later small job does not pass a waiting large one', async () => {
    const pool = createGpuPool(['0', '1']);
    const first = await pool.take('first', 1);
    const order: string[] = [];
    const large = pool.take('large', 2).then((lease) => (order.push('large'), lease));
    const small = pool.take('small', 1).then((lease) => (order.push('small'), lease));
    await settled();
    expect(order).toEqual([]); // a card is free, but the large job came first
    first.release();
    (await large).release();
    await small;
    expect(order).toEqual(['large', 'small']);
  });

  it('refuses more cards than it has, and stops waiting when the run is aborted', async () => {
    const pool = createGpuPool(['GPU-a']);
    await expect(pool.take('big', 2)).rejects.toThrow('job big asks for 2 GPUs; this executor has 1');
    const held = await pool.take('held', 1);
    const controller = new AbortController();
    const waiting = pool.take('waiting', 1, controller.signal);
    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorError);
    expect((error as ExecutorError).code).toBe('aborted');
    held.release();
    held.release(); // twice is harmless
    expect((await pool.take('next', 1)).deviceIds).toEqual(['GPU-a']);
  });
});
