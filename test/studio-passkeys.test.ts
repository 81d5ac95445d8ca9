/**
 * The passkey routes refuse, with a reason, what no honest browser sends: a POST without the CSRF token, an
 * email that is taken, an answer to a challenge given to another browser (or already answered), an answer
 * signed at another origin, an answer of one ceremony sent to another. The ceremonies themselves, with a
 * real authenticator, run in test/studio-sign-in-browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

describe('the passkey routes', () => {
  let studio: TestStudio;
  beforeAll(async () => {
    studio = await startTestStudio();
  });
  afterAll(async () => {
    await studio?.end();
  });

  /** A browser before sign-in, with its pre-session CSRF token. */
  const visitor = async () => {
    const client = new WebClient(studio.url);
    const csrf = await client.csrfOf('/signin');
    const post = (route: string, body: unknown, token = csrf) =>
      client.fetch(route, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-csrf-token': token } });
    return { client, csrf, post };
  };
  /** What a browser would send back for a challenge, unsigned: enough to reach the challenge checks. */
  const answer = (challenge: string, origin = studio.origin, type = 'webauthn.get') => ({
    id: 'AAAA',
    rawId: 'AAAA',
    type: 'public-key',
    clientExtensionResults: {},
    response: { clientDataJSON: Buffer.from(JSON.stringify({ type, challenge, origin })).toString('base64url'), authenticatorData: '', signature: '' },
  });

  it('asks for the CSRF token on its JSON POSTs', async () => {
    const { post } = await visitor();
    expect((await post('/auth/passkey/signin/options', {}, 'not-the-token')).status).toBe(403);
    const options = await post('/auth/passkey/signin/options', {});
    expect(options.status).toBe(200);
    expect(await options.json()).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
  });

  it('offers sign-up options for a free email only, with a user handle that is not the email', async () => {
    const { post } = await visitor();
    expect((await (await post('/auth/passkey/signup/options', { email: 'not an email' })).json()).error.code).toBe('email-malformed');
    const taken = new WebClient(studio.url);
    await taken.signUp('taken@example.com', 'a long password');
    const refused = await post('/auth/passkey/signup/options', { email: 'taken@example.com' });
    expect(refused.status).toBe(409);
    expect((await refused.json()).error.message).toContain('sign in, then add a passkey');
    const options = await (await post('/auth/passkey/signup/options', { email: 'new@example.com' })).json();
    expect(options).toMatchObject({ rp: { id: 'localhost', name: 'Lilypad AI Studio' }, user: { name: 'new@example.com' }, authenticatorSelection: { residentKey: 'required', userVerification: 'required' } });
    expect(Buffer.from(options.user.id, 'base64url').toString()).not.toContain('new@example.com');
  });

  it('refuses an answer to a challenge given to another browser, and the challenge is then spent', async () => {
    const owner = await visitor();
    const { challenge } = await (await owner.post('/auth/passkey/signin/options', {})).json();
    const thief = await visitor();
    const stolen = await thief.post('/auth/passkey/signin/verify', { response: answer(challenge) });
    expect(stolen.status).toBe(400);
    expect((await stolen.json()).error.code).toBe('passkey-challenge-unknown');
    expect((await (await owner.post('/auth/passkey/signin/verify', { response: answer(challenge) })).json()).error.code).toBe('passkey-challenge-unknown');
    expect(thief.client.hasSession() || owner.client.hasSession()).toBe(false);
  });

  it('refuses an answer signed at another origin, saying where passkeys belong', async () => {
    const { post } = await visitor();
    const { challenge } = await (await post('/auth/passkey/signin/options', {})).json();
    const refused = await post('/auth/passkey/signin/verify', { response: answer(challenge, studio.url) });
    expect(refused.status).toBe(400);
    expect((await refused.json()).error).toEqual({
      code: 'passkey-wrong-origin',
      message: `This passkey was used at ${studio.url}, but the studio's passkeys belong to ${studio.origin}: open ${studio.origin} and try again.`,
    });
  });

  it('refuses an answer of one ceremony sent to another, and one that is not an answer', async () => {
    const { post } = await visitor();
    const { challenge } = await (await post('/auth/passkey/signup/options', { email: 'mixed@example.com' })).json();
    expect((await (await post('/auth/passkey/signin/verify', { response: answer(challenge) })).json()).error.code).toBe('passkey-challenge-unknown');
    expect((await (await post('/auth/passkey/signin/verify', { response: { response: { clientDataJSON: '%%%' } } })).json()).error.code).toMatch(/passkey-(malformed|challenge-unknown)/);
    const notJson = await post('/auth/passkey/signin/verify', 'no');
    expect(notJson.status).toBe(400);
  });

  it('adds passkeys to signed-in accounts only, answering to the session that asked', async () => {
    const { post } = await visitor();
    const refused = await post('/auth/passkey/add/options', {});
    expect(refused.status).toBe(401);

    const signedIn = async (email: string) => {
      const client = new WebClient(studio.url);
      await client.signUp(email, 'a long password');
      const csrf = await client.csrfOf('/keys');
      return (route: string, body: unknown) => client.fetch(route, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-csrf-token': csrf } });
    };
    const owner = await signedIn('owner@example.com');
    const other = await signedIn('other@example.com');
    const options = await (await owner('/auth/passkey/add/options', {})).json();
    expect(options.user.name).toBe('owner@example.com');
    const foreign = await other('/auth/passkey/add/verify', { response: answer(options.challenge, studio.origin, 'webauthn.create') });
    expect((await foreign.json()).error.code).toBe('passkey-challenge-unknown');
    const page = await new WebClient(studio.url).fetch('/account/security');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/signin?next=%2Faccount%2Fsecurity');
  });
});
