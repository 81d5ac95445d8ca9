import { describe, expect, it } from 'vitest';
import { endsOnStop, stepsStillStopping, stopStep } from './stop-steps.js';

describe('stop steps', () => {
  it('names a step while it runs, and forgets it when it ends or fails', async () => {
    let finish!: () => void;
    const step = stopStep('the solver', () => new Promise<void>((resolve) => (finish = resolve)));
    const failing = stopStep('anvil', async () => {
      throw new Error('already gone');
    });
    await expect(failing).rejects.toThrow('already gone');
    expect(stepsStillStopping()).toEqual(['the solver']);
    finish();
    await step;
    expect(stepsStillStopping()).toEqual([]);
  });

  it('names work that must end on a stop only once the stop began', async () => {
    const controller = new AbortController();
    let finish!: (value: string) => void;
    const work = endsOnStop('the job', controller.signal, new Promise<string>((resolve) => (finish = resolve)));
    expect(stepsStillStopping()).toEqual([]);
    controller.abort();
    expect(stepsStillStopping()).toEqual(['the job']);
    finish('done');
    expect(await work).toBe('done');
    expect(stepsStillStopping()).toEqual([]);
  });
});
