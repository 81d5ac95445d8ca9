import { describe, expect, it } from 'vitest';
import { createJobSlots } from './job-slots.js';

/** A task that runs until `finish` is called. */
function pending() {
  let finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { done, finish: () => finish() };
}

describe('job slots', () => {
  it('runs at most `size` tasks at once; the others start in the order they came as slots free up', async () => {
    const slots = createJobSlots(2);
    const started: string[] = [];
    const tasks = { a: pending(), b: pending(), c: pending(), d: pending() };
    const runs = Object.entries(tasks).map(([name, task]) =>
      slots.run(async () => {
        started.push(name);
        await task.done;
        return name;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual(['a', 'b']);
    tasks.b.finish();
    await runs[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a', 'b', 'c']);
    tasks.a.finish();
    tasks.c.finish();
    tasks.d.finish();
    expect(await Promise.all(runs)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('frees the slot of a task that throws', async () => {
    const slots = createJobSlots(1);
    await expect(slots.run(async () => { throw new Error('job failed'); })).rejects.toThrow('job failed');
    expect(await slots.run(async () => 'next')).toBe('next');
  });
});
