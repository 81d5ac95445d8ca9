/**
 * The studio runs people's jobs in parallel on its one account: a real studio on 127.0.0.1 with two jobs at
 * a time, five people each asking for cowsay at once. Each gets their own result, pays once, and never more
 * than two jobs run at a time (the rest wait, queued, in the store). A studio that stops ends the jobs still
 * waiting at once, refunded.
 */
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStudioStore, type StudioStore } from '../src/studio/store.js';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

const PARALLEL_JOBS = 2;
let studio: TestStudio;
let store: StudioStore;

beforeAll(async () => {
  studio = await startTestStudio({ parallelJobs: PARALLEL_JOBS });
  store = openStudioStore(studio.dataDir);
});
afterAll(async () => {
  store?.close();
  await studio?.end();
});

describe('jobs in parallel', () => {
  it('runs five people\'s jobs, two at a time, each with its own result and its own charge', async () => {
    const people = await Promise.all(
      ['ada', 'grace', 'edsger', 'barbara', 'donald'].map(async (name) => {
        const web = new WebClient(studio.url);
        expect((await web.signUp(`${name}@example.com`, 'correct horse battery')).status).toBe(303);
        return { name, key: await web.createKey('k'), id: store.userByEmail(`${name}@example.com`)!.id };
      }),
    );
    const api = (key: string, pathname: string, init: RequestInit = {}) =>
      fetch(studio.url + '/api/v1' + pathname, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });

    const posted = await Promise.all(
      people.map(async (person) => {
        const response = await api(person.key, '/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: `hello from ${person.name}` } }) });
        expect(response.status).toBe(201);
        return { ...person, jobId: ((await response.json()) as { id: string }).id };
      }),
    );

    // Watch the store while they run: never more than two running, and two at once at some point.
    const ids = posted.map((p) => p.jobId);
    let mostRunning = 0;
    for (;;) {
      const statuses = ids.map((id) => store.job(id)!.status);
      const running = statuses.filter((s) => s === 'running').length;
      expect(running).toBeLessThanOrEqual(PARALLEL_JOBS);
      mostRunning = Math.max(mostRunning, running);
      if (statuses.every((s) => s === 'succeeded' || s === 'failed')) break;
      await sleep(20);
    }
    expect(mostRunning).toBe(PARALLEL_JOBS);

    for (const person of posted) {
      const events = await readEvents(await api(person.key, `/jobs/${person.jobId}/events`));
      const result = events.at(-1)!;
      expect(result).toMatchObject({ event: 'result', data: { status: 'succeeded', exitCode: 0, credits: 1, refunded: false } });
      expect(result.data.stdout).toContain(`< hello from ${person.name} >`);
      // Their own progress, one deal of their own.
      const progress = events.filter((e) => e.event === 'progress');
      expect(progress.map((e) => e.data.type).filter((type) => type !== 'job:output')).toEqual(['job:submitting', 'job:submitted', 'deal:agreed', 'results:submitted', 'results:accepted', 'results:downloaded']);
      // Live output, where the provider sent it in time, is this job's own: never a neighbour's.
      const live = progress.filter((e) => e.data.type === 'job:output').map((e) => e.data.text).join('');
      if (live !== '') expect(live).toBe(result.data.stdout);
      expect(store.user(person.id)!.credits).toBe(99);
      expect(store.spentBy(person.id)).toBe(1);
      expect(store.creditEntriesOf(person.id).reduce((sum, entry) => sum + entry.delta, 0)).toBe(99);
    }
    expect(new Set(posted.map((p) => store.job(p.jobId)!.dealId)).size).toBe(people.length);
  }, 120_000);

  it('ends the jobs still waiting when it stops, failed and refunded, without signing anything for them', async () => {
    const one = await startTestStudio({ parallelJobs: 1 });
    try {
      const web = new WebClient(one.url);
      await web.signUp('ada@example.com', 'correct horse battery');
      const key = await web.createKey('k');
      const post = (module: string, inputs: Record<string, string>) =>
        fetch(one.url + '/api/v1/jobs', { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ module, inputs }) }).then(
          async (r) => ((await r.json()) as { id: string }).id,
        );
      // A long job first, so that the two after it are still waiting when the studio stops.
      const first = await post('spin:v0.0.1', { Rounds: '800' });
      const waiting = [await post('cowsay:v0.0.1', { Message: 'later' }), await post('cowsay:v0.0.1', { Message: 'later still' })];
      await one.stop();
      const after = openStudioStore(one.dataDir);
      try {
        for (const id of waiting) {
          expect(after.job(id)).toMatchObject({ status: 'failed', refunded: true, error: 'the studio stopped before this job ran; its credits are back', events: [] });
        }
        expect(after.job(first)!.status).toBe('failed');
        // 100 to start with; the spin job's 2 credits are back too unless its deal was agreed before the stop.
        const user = after.userByEmail('ada@example.com')!;
        expect(user.credits).toBe(after.job(first)!.refunded ? 100 : 98);
        expect(after.creditEntriesOf(user.id).reduce((sum, entry) => sum + entry.delta, 0)).toBe(user.credits);
      } finally {
        after.close();
      }
    } finally {
      await one.stop();
      await rm(one.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
