/**
 * Attacks on the studio, each tried against a real studio on 127.0.0.1 (a real embedded network behind it,
 * its real SQLite store read back), and each checked by what the victim would notice: no job, no key, no
 * credit moved, the session still valid, nothing of theirs shown to anyone else, no script of anyone else's
 * run in their browser (Debian's headless Chromium). CSRF, another user's job or key by id, session fixation,
 * oversized bodies, script in inputs, credits under concurrent requests (jobs, sign-ups, top-ups), and the
 * odd ones: path traversal in result files, open redirects through `next=`, very long emails, SQL-shaped
 * input, line breaks in key names.
 */
import { createServer, request, type Server } from 'node:http';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeBetaPayments } from '../src/studio/payments.js';
import { sha256Hex } from '../src/studio/secrets.js';
import { openStudioStore, type StudioStore } from '../src/studio/store.js';
import { chromiumMissing, openChromium, type ChromiumProfile } from './chromium.js';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

const noChromium = chromiumMissing("the studio's browser security tests");

/** Every account starts with this many credits: cowsay costs 1, so it is also the number of cowsay jobs one can pay for. */
const SIGNUP_CREDITS = 3;
const PASSWORD = 'correct horse battery';

let studio: TestStudio;
/** The studio's database, opened a second time as the operator's commands open it: what is really recorded. */
let store: StudioStore;
let counter = 0;

beforeAll(async () => {
  studio = await startTestStudio({ payments: freeBetaPayments({ signupCredits: SIGNUP_CREDITS }), rateLimit: { burst: 200, perSecond: 10 } });
  store = openStudioStore(studio.dataDir);
});
afterAll(async () => {
  store?.close();
  await studio?.end();
});

/** A new person with an account, signed in; `preSessionCsrf` is the token the sign-up form carried. */
async function newUser(label: string) {
  const email = `${label}-${++counter}@example.com`;
  const web = new WebClient(studio.url);
  const preSessionCsrf = await web.csrfOf('/signup');
  expect((await web.post('/signup', { csrf: preSessionCsrf, email, password: PASSWORD })).status).toBe(303);
  const user = store.userByEmail(email)!;
  return { email, web, user, preSessionCsrf, id: user.id };
}

const api = (key: string, pathname: string, init: RequestInit = {}) =>
  fetch(studio.url + '/api/v1' + pathname, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers } });

/** Runs cowsay over the API and waits for its end. */
async function runCowsay(key: string, message: string) {
  const posted = await api(key, '/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: message } }) });
  expect(posted.status).toBe(201);
  const { id } = (await posted.json()) as { id: string };
  const events = await readEvents(await api(key, `/jobs/${id}/events`));
  expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'succeeded' } });
  return { id, result: events.at(-1)!.data as { cid: string; stdout: string; files: Array<{ path: string; url: string }> } };
}

/** What a person owns, as the store has it: anything an attack changed shows up here. */
function holdings(userId: number) {
  const user = store.user(userId)!;
  return {
    credits: user.credits,
    creditEntries: store.creditEntriesOf(userId, 10_000).length,
    jobs: store.jobsOf(userId, 10_000).map((job) => job.id),
    keys: store.apiKeysOf(userId).map((key) => ({ id: key.id, revoked: key.revokedAt !== undefined })),
  };
}

/** The sum of a person's credit entries: the ledger must always add up to the balance. */
const ledgerSum = (userId: number) => store.creditEntriesOf(userId, 100_000).reduce((sum, entry) => sum + entry.delta, 0);

describe('CSRF', () => {
  it('refuses every state-changing form without the session\'s token, with another session\'s, or with the pre-session token after sign-in, and changes nothing', async () => {
    const victim = await newUser('victim');
    const attacker = await newUser('attacker');
    const victimKey = await victim.web.createKey('victim key');
    const keyId = store.apiKeysOf(victim.id)[0]!.id;
    const before = holdings(victim.id);
    const attackerToken = await attacker.web.csrfOf('/keys');

    const forms: Array<[string, Record<string, string>]> = [
      ['/signup', { email: `planted-${counter}@example.com`, password: PASSWORD }],
      ['/signin', { email: attacker.email, password: PASSWORD }],
      ['/signout', {}],
      ['/signout-everywhere', {}],
      ['/jobs', { module: 'cowsay:v0.0.1', 'input.Message': 'csrf' }],
      ['/keys', { name: 'planted' }],
      [`/keys/${keyId}/revoke`, {}],
      ['/credits/top-up', {}],
    ];
    const tries: Array<[string, (fields: Record<string, string>) => Record<string, string>, Record<string, string>?]> = [
      ['no token', (fields) => fields],
      ['an empty token', (fields) => ({ ...fields, csrf: '' })],
      ['another session\'s token', (fields) => ({ ...fields, csrf: attackerToken })],
      ['another session\'s token in the header', (fields) => fields, { 'x-csrf-token': attackerToken }],
      ['the pre-session token of its own sign-up', (fields) => ({ ...fields, csrf: victim.preSessionCsrf })],
    ];
    for (const [route, fields] of forms) {
      for (const [how, withToken, headers] of tries) {
        // The pre-session cookie planted again too: a double submit must not stand in for the session's token.
        if (how.startsWith('the pre-session')) victim.web.setCookie('lilypad_csrf', victim.preSessionCsrf);
        const response = await victim.web.post(route, withToken(fields), headers);
        expect(response.status, `${route} with ${how}`).toBe(403);
        expect(await response.text()).toContain('This form expired or did not come from this site');
      }
    }
    expect(holdings(victim.id)).toEqual(before);
    expect(store.userByEmail(`planted-${counter}@example.com`)).toBeUndefined();
    // Still signed in, as themselves; the key still works.
    expect(await (await victim.web.fetch('/account.json')).json()).toMatchObject({ email: victim.email, credits: SIGNUP_CREDITS });
    expect((await api(victimKey, '/account')).status).toBe(200);
  });

  it('refuses sign-up and sign-in without the pre-session token, or with a token that is not this browser\'s, and signs nobody in', async () => {
    const stranger = await newUser('stranger');
    const browser = new WebClient(studio.url);
    await browser.csrfOf('/signin');
    const otherBrowser = new WebClient(studio.url);
    const otherToken = await otherBrowser.csrfOf('/signin');
    for (const csrf of [undefined, '', otherToken]) {
      const fields: Record<string, string> = csrf === undefined ? {} : { csrf };
      expect((await browser.post('/signin', { ...fields, email: stranger.email, password: PASSWORD })).status).toBe(403);
      expect((await browser.post('/signup', { ...fields, email: `login-csrf-${counter}@example.com`, password: PASSWORD })).status).toBe(403);
    }
    // A browser with no cookie at all (a cross-site form sends none under SameSite=Lax).
    const bare = await fetch(studio.url + '/signin', { method: 'POST', body: new URLSearchParams({ csrf: otherToken, email: stranger.email, password: PASSWORD }), redirect: 'manual' });
    expect(bare.status).toBe(403);
    expect(bare.headers.getSetCookie().some((line) => line.startsWith('lilypad_session='))).toBe(false);
    expect(browser.hasSession()).toBe(false);
    expect(store.userByEmail(`login-csrf-${counter}@example.com`)).toBeUndefined();
  });
});

describe('another user\'s job or key by id', () => {
  it('answers 404 for another user\'s job page, events, files and key, leaks nothing, and leaves the key working', async () => {
    const owner = await newUser('owner');
    const ownerKey = await owner.web.createKey('owner key');
    const secret = `private message ${counter}`;
    const { id, result } = await runCowsay(ownerKey, secret);
    const keyId = store.apiKeysOf(owner.id)[0]!.id;

    const snoop = await newUser('snoop');
    const snoopKey = await snoop.web.createKey('snoop key');
    const leaks = (body: string) => [secret, owner.email, result.cid, ownerKey.slice(0, 12)].filter((s) => body.includes(s));

    const web = [`/jobs/${id}`, `/jobs/${id}/events`, `/jobs/${id}/files/stdout`, `/jobs/${id}/files/exitCode`];
    for (const route of web) {
      const response = await snoop.web.fetch(route);
      expect(response.status, route).toBe(404);
      expect(leaks(await response.text()), route).toEqual([]);
    }
    for (const route of [`/jobs/${id}`, `/jobs/${id}/events`, `/jobs/${id}/files/stdout`]) {
      const response = await api(snoopKey, route);
      expect(response.status, route).toBe(404);
      const body = await response.text();
      expect(JSON.parse(body).error.code).toBe('job-not-found');
      expect(leaks(body), route).toEqual([]);
    }
    // Their own job list does not have it either.
    expect(((await (await api(snoopKey, '/jobs')).json()) as { jobs: unknown[] }).jobs).toEqual([]);

    // Revoking someone else's key by its id: refused, and the key goes on working for its owner.
    const revoke = await snoop.web.post(`/keys/${keyId}/revoke`, { csrf: await snoop.web.csrfOf('/keys') });
    expect(revoke.status).toBe(404);
    expect(leaks(await revoke.text())).toEqual([]);
    expect(store.apiKeysOf(owner.id)[0]!.revokedAt).toBeUndefined();
    expect((await api(ownerKey, `/jobs/${id}`)).status).toBe(200);
    // Nor does a signed-out browser see anything.
    const anonymous = new WebClient(studio.url);
    expect((await anonymous.fetch(`/jobs/${id}/files/stdout`)).status).toBe(404);
    expect((await anonymous.fetch(`/jobs/${id}`)).status).toBe(303);
  });

  it('keeps a result\'s files inside its own folder: no path traversal, encoded or not, to another job or the database', async () => {
    const owner = await newUser('traversal-owner');
    const ownerKey = await owner.web.createKey('k');
    const victimJob = await runCowsay(ownerKey, `the victim's ${counter}`);
    const thief = await newUser('traversal-thief');
    const thiefKey = await thief.web.createKey('k');
    const own = await runCowsay(thiefKey, `the thief's ${counter}`);
    const cid = victimJob.result.cid;
    const attempts = [
      `../${cid}/stdout`, `..%2f${cid}%2fstdout`, `%2e%2e%2f${cid}%2fstdout`, `..%252f${cid}%252fstdout`, `..%5c${cid}%5cstdout`,
      '..%2f..%2fstudio.db', '%2e%2e/%2e%2e/studio.db', `%2Fetc%2Fpasswd`, '..', '.', '', '%E0%A4%A', 'stdout%00.png',
    ];
    for (const attempt of attempts) {
      for (const response of [await thief.web.fetch(`/jobs/${own.id}/files/${attempt}`), await api(thiefKey, `/jobs/${own.id}/files/${attempt}`)]) {
        expect(response.status, attempt).toBe(404);
        const body = await response.text();
        expect(body, attempt).not.toContain("the victim's");
        expect(body, attempt).not.toContain('SQLite');
      }
    }
    // The thief's own file still downloads.
    expect(await (await api(thiefKey, `/jobs/${own.id}/files/stdout`)).text()).toBe(own.result.stdout);
  });
});

describe('session fixation', () => {
  it('never accepts a session cookie planted before sign-in, and ends the server-side session on sign-out', async () => {
    const person = await newUser('fixation');
    const browser = new WebClient(studio.url);
    const planted = 'attacker-chosen-session-value';
    browser.setCookie('lilypad_session', planted);
    const signedIn = await browser.post('/signin', { csrf: await browser.csrfOf('/signin'), email: person.email, password: PASSWORD });
    expect(signedIn.status).toBe(303);
    const fresh = browser.cookie('lilypad_session')!;
    expect(fresh).not.toBe(planted);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    // The attacker's copy of the planted value is worth nothing.
    const attacker = new WebClient(studio.url);
    attacker.setCookie('lilypad_session', planted);
    expect((await attacker.fetch('/account.json')).status).toBe(401);
    expect(store.session(sha256Hex(planted))).toBeUndefined();
    expect((await browser.fetch('/account.json')).status).toBe(200);

    // A session of the person's own, captured (a shared computer, a stolen cookie), dies with sign-out.
    const captured = new WebClient(studio.url);
    captured.setCookie('lilypad_session', fresh);
    expect((await captured.fetch('/account.json')).status).toBe(200);
    expect((await browser.post('/signout', { csrf: await browser.csrfOf('/credits') })).status).toBe(303);
    expect(browser.hasSession()).toBe(false);
    expect(store.session(sha256Hex(fresh))).toBeUndefined();
    expect((await captured.fetch('/account.json')).status).toBe(401);
    expect((await captured.fetch('/keys')).status).toBe(303);
  });

  it('starts a new session on each sign-in, so a session value learned before does not carry over', async () => {
    const person = await newUser('two-sign-ins');
    const first = person.web.cookie('lilypad_session')!;
    const again = new WebClient(studio.url);
    await again.post('/signin', { csrf: await again.csrfOf('/signin'), email: person.email, password: PASSWORD });
    expect(again.cookie('lilypad_session')).not.toBe(first);
  });
});

describe('oversized bodies', () => {
  const LIMIT = 4 * 1024 * 1024;

  it('answers 413 with a JSON message on the API and an HTML one on the pages, over content-length, and records nothing', async () => {
    const person = await newUser('oversized');
    const key = await person.web.createKey('k');
    const before = holdings(person.id);
    const apiBody = JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'm'.repeat(LIMIT + 10) } });
    const fromApi = await api(key, '/jobs', { method: 'POST', body: apiBody });
    expect(fromApi.status).toBe(413);
    expect(fromApi.headers.get('content-type')).toContain('application/json');
    expect(((await fromApi.json()) as any).error).toEqual({ code: 'body-too-large', message: expect.stringContaining('pass large data by CID') });

    const csrf = await person.web.csrfOf('/keys');
    const fromPage = await person.web.post('/jobs', { csrf, module: 'cowsay:v0.0.1', 'input.Message': 'm'.repeat(LIMIT + 10) });
    expect(fromPage.status).toBe(413);
    expect(fromPage.headers.get('content-type')).toContain('text/html');
    expect(await fromPage.text()).toContain('pass large data by CID');
    const keyForm = await person.web.post('/keys', { csrf, name: 'k'.repeat(LIMIT + 10) });
    expect(keyForm.status).toBe(413);
    expect(holdings(person.id)).toEqual(before);
  });

  it('answers 413 to a chunked body without content-length once it passes the limit', async () => {
    const person = await newUser('chunked');
    const key = await person.web.createKey('k');
    const before = holdings(person.id);
    const chunked = (pathname: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        let answered = false;
        const url = new URL(pathname, studio.url);
        // A connection of its own (no keep-alive pool): the studio stops reading a body it refuses.
        const req = request(url, { method: 'POST', agent: false, headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
          answered = true;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        // The studio may answer and close before all of it is sent; an error before any answer fails the test.
        req.on('error', (error) => (answered ? undefined : reject(error)));
        const chunk = Buffer.alloc(256 * 1024, 'm');
        let sent = 0;
        const pump = () => {
          while (sent < LIMIT + chunk.length * 2) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        req.write('{"module":"cowsay:v0.0.1","inputs":{"Message":"');
        pump();
      });
    const fromApi = await chunked('/api/v1/jobs', { authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    expect(fromApi.status).toBe(413);
    expect(JSON.parse(fromApi.body).error.code).toBe('body-too-large');
    const fromPage = await chunked('/jobs', { cookie: `lilypad_session=${person.web.cookie('lilypad_session')}`, 'content-type': 'application/x-www-form-urlencoded' });
    expect(fromPage.status).toBe(413);
    expect(holdings(person.id)).toEqual(before);
  });

  it('answers 400 to one input over its own limit (under the body limit), from the API and the form, and charges nothing', async () => {
    const person = await newUser('big-input');
    const key = await person.web.createKey('k');
    const before = holdings(person.id);
    const big = 'm'.repeat(1536 * 1024);
    const fromApi = await api(key, '/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: big } }) });
    expect(fromApi.status).toBe(400);
    expect(((await fromApi.json()) as any).error).toEqual({ code: 'input-too-large', message: expect.stringContaining('pass large data by CID') });
    const fromPage = await person.web.post('/jobs', { csrf: await person.web.csrfOf('/keys'), module: 'cowsay:v0.0.1', 'input.Message': big });
    expect(fromPage.status).toBe(400);
    expect(await fromPage.text()).toContain('pass large data by CID');
    expect(holdings(person.id)).toEqual(before);
  });
});

describe('credits under concurrent requests', () => {
  it('accepts exactly as many jobs as the credits pay for out of 40 at once, the rest 402, and the balance ends at 0 with the ledger adding up', async () => {
    const person = await newUser('concurrent');
    const key = await person.web.createKey('k');
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => api(key, '/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: `rush ${i}` } }) })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(SIGNUP_CREDITS);
    expect(statuses.filter((s) => s === 402)).toHaveLength(40 - SIGNUP_CREDITS);
    const refused = await Promise.all(responses.filter((r) => r.status === 402).map((r) => r.json() as Promise<any>));
    expect(refused[0].error).toEqual({ code: 'insufficient-credits', message: `cowsay:v0.0.1 costs 1 credit and you have 0: add credits first` });
    expect(store.user(person.id)!.credits).toBe(0);
    expect(ledgerSum(person.id)).toBe(0);
    expect(store.jobsOf(person.id)).toHaveLength(SIGNUP_CREDITS);

    // The accepted ones run and are charged once each; nothing is refunded, nothing goes below zero.
    const accepted = await Promise.all(responses.filter((r) => r.status === 201).map((r) => r.json() as Promise<{ id: string }>));
    for (const { id } of accepted) expect((await readEvents(await api(key, `/jobs/${id}/events`))).at(-1)!.data.status).toBe('succeeded');
    expect(store.user(person.id)!.credits).toBe(0);
    expect(ledgerSum(person.id)).toBe(0);
    expect(store.spentBy(person.id)).toBe(SIGNUP_CREDITS);
  });

  it('holds with two API keys and the web form of one person at once', async () => {
    const person = await newUser('two-keys');
    const [first, second] = [await person.web.createKey('one'), await person.web.createKey('two')];
    const csrf = await person.web.csrfOf('/keys');
    const requests: Array<Promise<number>> = [];
    for (let i = 0; i < 15; i++) {
      for (const key of [first, second]) requests.push(api(key, '/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: `two ${i}` } }) }).then((r) => r.status));
      requests.push(person.web.post('/jobs', { csrf, module: 'cowsay:v0.0.1', 'input.Message': `form ${i}` }, { accept: 'application/json' }).then((r) => r.status));
    }
    const statuses = await Promise.all(requests);
    expect(statuses.filter((s) => s === 201)).toHaveLength(SIGNUP_CREDITS);
    expect(statuses.filter((s) => s === 402)).toHaveLength(45 - SIGNUP_CREDITS);
    expect(store.user(person.id)!.credits).toBe(0);
    expect(ledgerSum(person.id)).toBe(0);
    // The jobs end before the studio does: wait for them.
    for (const job of store.jobsOf(person.id)) await readEvents(await api(first, `/jobs/${job.id}/events`));
    expect(store.user(person.id)!.credits).toBe(0);
    expect(ledgerSum(person.id)).toBe(0);
  });
});

describe('accounts and top-ups under concurrent requests', () => {
  it('makes one account of five sign-ups of one email at once, and answers the others as a person would', async () => {
    const email = `twice-${++counter}@example.com`;
    const browsers = Array.from({ length: 5 }, () => new WebClient(studio.url));
    const tokens = await Promise.all(browsers.map((browser) => browser.csrfOf('/signup')));
    const responses = await Promise.all(browsers.map((browser, i) => browser.post('/signup', { csrf: tokens[i]!, email, password: PASSWORD })));
    expect(responses.map((r) => r.status).sort()).toEqual([303, 400, 400, 400, 400]);
    for (const response of responses.filter((r) => r.status === 400)) expect(await response.text()).toContain(`An account for ${email} already exists`);
    const user = store.userByEmail(email)!;
    expect(user.credits).toBe(SIGNUP_CREDITS);
    expect(store.creditEntriesOf(user.id)).toHaveLength(1);
  });

  it('grants no free credits past the beta\'s cap when 20 top-ups come at once', async () => {
    const person = await newUser('top-up');
    // Near the cap, as the operator's grant leaves it: room for one more top-up of 100.
    store.grantCredits(person.id, 850 - SIGNUP_CREDITS, 'operator grant');
    const body = new URLSearchParams({ csrf: await person.web.csrfOf('/credits') }).toString();
    // As slow connections send them: every request's headers first (the studio reads the session and its
    // balance), then, once one more request has come and gone, every body.
    const requests = Array.from({ length: 20 }, () => {
      const req = request(new URL('/credits/top-up', studio.url), {
        method: 'POST',
        agent: false,
        headers: { cookie: `lilypad_session=${person.web.cookie('lilypad_session')}`, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
      });
      req.flushHeaders();
      const connected = new Promise<void>((resolve) => req.once('socket', (socket) => socket.once('connect', () => resolve())));
      return { req, connected, answered: new Promise<number>((resolve, reject) => req.on('response', (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject)) };
    });
    await Promise.all(requests.map((r) => r.connected));
    expect((await person.web.fetch('/account.json')).status).toBe(200);
    for (const { req } of requests) req.end(body);
    expect(await Promise.all(requests.map((r) => r.answered))).toEqual(Array(20).fill(303));
    // 100 a time while the balance stays within 1,000: one of them.
    expect(store.user(person.id)!.credits).toBe(950);
    expect(ledgerSum(person.id)).toBe(950);
  });
});

describe('odd input', () => {
  it('never redirects off the studio through next=, however it is spelled', async () => {
    const person = await newUser('redirect');
    const origin = new URL(studio.url).origin;
    const nexts = ['//evil.example/', '/\\evil.example/', '\\/evil.example', '/\t/evil.example', 'https://evil.example/', 'javascript:alert(1)', '/%2f/evil.example', ' //evil.example', '/\r\nSet-Cookie: planted=1'];
    for (const next of nexts) {
      const browser = new WebClient(studio.url);
      const signedIn = await browser.post('/signin', { csrf: await browser.csrfOf('/signin'), email: person.email, password: PASSWORD, next });
      expect(signedIn.status, JSON.stringify(next)).toBe(303);
      const location = signedIn.headers.get('location')!;
      // What a browser does with the Location header: resolve it against the page.
      expect(new URL(location, studio.url).origin, `${JSON.stringify(next)} -> ${location}`).toBe(origin);
      expect(signedIn.headers.getSetCookie().some((line) => line.startsWith('planted='))).toBe(false);
      const already = await browser.fetch(`/signin?next=${encodeURIComponent(next)}`);
      expect(already.status).toBe(303);
      expect(new URL(already.headers.get('location')!, studio.url).origin, JSON.stringify(next)).toBe(origin);
    }
    // A path on the studio is kept.
    const browser = new WebClient(studio.url);
    const toKeys = await browser.post('/signin', { csrf: await browser.csrfOf('/signin'), email: person.email, password: PASSWORD, next: '/keys?x=1' });
    expect(toKeys.headers.get('location')).toBe('/keys?x=1');
  });

  it('refuses a very long email with a clear message, and treats SQL-shaped input as text', async () => {
    const browser = new WebClient(studio.url);
    const long = `${'a'.repeat(100_000)}@example.com`;
    const refused = await browser.post('/signup', { csrf: await browser.csrfOf('/signup'), email: long, password: PASSWORD });
    expect(refused.status).toBe(400);
    const page = await refused.text();
    expect(page).toContain('Enter an email address');
    expect(page.length).toBeLessThan(50_000);
    expect(store.userByEmail(long)).toBeUndefined();
    const signIn = await browser.post('/signin', { csrf: await browser.csrfOf('/signin'), email: long, password: PASSWORD });
    expect(signIn.status).toBe(401);
    const signInPage = await signIn.text();
    expect(signInPage).toContain('That email and password do not match an account.');
    expect(signInPage.length).toBeLessThan(50_000);

    const sqlish = `x'--@example.com`;
    const person = new WebClient(studio.url);
    expect((await person.post('/signup', { csrf: await person.csrfOf('/signup'), email: sqlish, password: PASSWORD })).status).toBe(303);
    const someone = await newUser('sql-target');
    const guess = new WebClient(studio.url);
    for (const email of [`${someone.email}' --`, `' OR '1'='1`, `${someone.email}' OR '1'='1' --`]) {
      expect((await guess.post('/signin', { csrf: await guess.csrfOf('/signin'), email, password: `' OR '1'='1` })).status).toBe(401);
    }
    expect(guess.hasSession()).toBe(false);
    const key = await someone.web.createKey(`'); DROP TABLE jobs; --`);
    expect((await api(key, `/jobs/' OR '1'='1`)).status).toBe(404);
    expect(store.apiKeysOf(someone.id)[0]!.name).toBe(`'); DROP TABLE jobs; --`);
  });

  it('keeps a key name with line breaks out of any header, and shows it as text', async () => {
    const person = await newUser('header');
    const created = await person.web.post('/keys', { csrf: await person.web.csrfOf('/keys'), name: 'evil\r\nSet-Cookie: planted=1\r\nX-Injected: 1' });
    expect(created.status).toBe(200);
    expect(created.headers.get('x-injected')).toBeNull();
    expect(created.headers.getSetCookie().some((line) => line.startsWith('planted='))).toBe(false);
    expect(store.apiKeysOf(person.id)[0]!.name).toContain('Set-Cookie: planted=1');
  });
});

describe.skipIf(Boolean(noChromium))(`in a browser${noChromium ? ` (skipped: ${noChromium})` : ''}`, () => {
  let chrome: ChromiumProfile;
  let context: BrowserContext;
  let attackerSite: Server;
  let attackerPort: number;
  /** Set by the attacker's page: what its forms should post. */
  let attackerPage = '';
  /** What ran that should not have: dialogs, and the global flag the payloads set. */
  const ran: string[] = [];

  beforeAll(async () => {
    chrome = await openChromium();
    context = chrome.context;
    // Another site on loopback, at another port: it serves whatever page a test sets.
    attackerSite = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(attackerPage);
    });
    await new Promise<void>((resolve) => attackerSite.listen(0, '127.0.0.1', resolve));
    attackerPort = (attackerSite.address() as { port: number }).port;
  });
  afterAll(async () => {
    await chrome?.close();
    await new Promise((resolve) => attackerSite?.close(resolve));
  });

  /** A browser page that reports any dialog or `pwned` flag a payload would raise. */
  async function watchedPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      ran.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      if (message.text().includes('pwned')) ran.push(`console: ${message.text()}`);
    });
    return page;
  }
  const pwned = (page: Page) => page.evaluate(() => (window as unknown as { pwned?: unknown }).pwned);

  /** Signs a person up outside the browser and hands the browser their session cookie. */
  async function signInBrowser(email?: string) {
    const person = await newUser('browser');
    if (email) {
      // Sign up again with the odd email (the browser's own email check would stop it being typed in).
      const web = new WebClient(studio.url);
      expect((await web.post('/signup', { csrf: await web.csrfOf('/signup'), email, password: PASSWORD })).status).toBe(303);
      await context.clearCookies();
      await context.addCookies([{ name: 'lilypad_session', value: web.cookie('lilypad_session')!, url: studio.url, httpOnly: true, sameSite: 'Lax' }]);
      return { ...person, web, id: store.userByEmail(email)!.id, email };
    }
    await context.clearCookies();
    await context.addCookies([{ name: 'lilypad_session', value: person.web.cookie('lilypad_session')!, url: studio.url, httpOnly: true, sameSite: 'Lax' }]);
    return person;
  }

  it('does nothing when another site\'s page auto-submits forms to the studio, same-site at another port or cross-site', async () => {
    const victim = await signInBrowser();
    await victim.web.createKey('kept');
    const before = holdings(victim.id);
    const studioPort = new URL(studio.url).port;
    const page = await watchedPage();
    for (const host of ['127.0.0.1', 'localhost']) {
      for (const [action, fields] of [
        ['/keys', { name: 'planted by another site', csrf: 'guess' }],
        ['/credits/top-up', {}],
        ['/jobs', { module: 'cowsay:v0.0.1', 'input.Message': 'cross-site' }],
        [`/keys/${before.keys[0]!.id}/revoke`, {}],
        ['/signout-everywhere', {}],
      ] as Array<[string, Record<string, string>]>) {
        const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`).join('');
        attackerPage = `<!doctype html><form method="post" action="${studio.url}${action}">${inputs}</form><script>document.forms[0].submit()</script>`;
        const answered = page.waitForResponse((response) => new URL(response.url()).port === studioPort && response.request().method() === 'POST');
        await page.goto(`http://${host}:${attackerPort}/`);
        const response = await answered;
        expect([403, 303], `${host} -> ${action}`).toContain(response.status());
        if (response.status() === 303) expect(response.headers().location, `${host} -> ${action}`).toMatch(/^\/signin/);
      }
    }
    expect(holdings(victim.id)).toEqual(before);
    expect((await victim.web.fetch('/account.json')).status).toBe(200);
    await page.close();
  });

  it('shows script in inputs, output, emails and key names as text: on the module page, the job page, the history and the keys page, nothing runs', async () => {
    const payloads = [`<script>window.pwned='script'</script>`, `<img src=x onerror="window.pwned='img'">`, `"><svg onload="window.pwned='svg'">`, `javascript:window.pwned='js'`];
    const hostileEmail = `"><img/src=x/onerror=window.pwned='email'>@example.com`;
    const person = await signInBrowser(hostileEmail);
    const page = await watchedPage();

    // Run a job from the module page, whose live view renders the events and the result in the browser.
    const pageResponse = await page.goto(studio.url + '/modules/cowsay');
    expect(pageResponse!.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(pageResponse!.headers()['x-frame-options']).toBe('DENY');
    const message = payloads.join(' ');
    await page.getByLabel('Message').fill(message);
    await page.getByRole('button', { name: 'Run cowsay' }).click();
    await page.locator('pre.stdout').waitFor({ timeout: 60_000 });
    const jobId = (await page.locator('[data-job-link]').textContent())!;
    const stdout = store.job(jobId)!.stdout!;
    for (const payload of ['<script>', 'onerror=', '"><svg', 'onload=', 'javascript:']) expect(stdout).toContain(payload);
    expect(await page.locator('pre.stdout').textContent()).toBe(stdout);
    expect(await page.locator('.account .email').textContent()).toBe(hostileEmail);
    expect(await pwned(page)).toBeUndefined();

    // The job page, rendered by the server: inputs and output as text.
    const jobResponse = await page.goto(`${studio.url}/jobs/${jobId}`);
    expect(jobResponse!.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(await page.locator('pre.stdout').textContent()).toBe(stdout);
    expect(await page.locator('p.lead').textContent()).toContain(`Message=${message}`);
    expect(await page.locator('main img, main svg, main script').count()).toBe(0);
    expect(await pwned(page)).toBeUndefined();

    // The history, and the keys page with a hostile key name.
    await page.goto(`${studio.url}/jobs`);
    expect(await page.locator('tbody tr').count()).toBe(1);
    await person.web.createKey(payloads[2]!);
    await person.web.createKey(payloads[0]!);
    await page.goto(`${studio.url}/keys`);
    expect((await page.locator('tbody td:first-child').allTextContents()).sort()).toEqual([payloads[0], payloads[2]].sort());
    expect(await page.locator('main img, main svg').count()).toBe(0);
    expect(await pwned(page)).toBeUndefined();
    await page.goto(`${studio.url}/credits`);
    expect(await pwned(page)).toBeUndefined();

    // A result file opened in the browser is text, never a page of the studio.
    const file = await page.goto(`${studio.url}/jobs/${jobId}/files/stdout`);
    expect(file!.headers()['content-type']).toBe('text/plain; charset=utf-8');
    expect(file!.headers()['x-content-type-options']).toBe('nosniff');
    expect(file!.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await pwned(page)).toBeUndefined();
    expect(ran).toEqual([]);
    await page.close();
  });
});
