import { describe, expect, it } from 'vitest';
import { publicOriginOf, signInSettingsOf } from './sign-in.js';

describe('the sign-in settings', () => {
  it('puts passkeys at http://localhost:<port> when no origin is set, never at the address the server listens on', () => {
    expect(publicOriginOf(undefined, 8787)).toEqual({ origin: 'http://localhost:8787', rpId: 'localhost' });
    expect(publicOriginOf('https://studio.example.com', 8787)).toEqual({ origin: 'https://studio.example.com', rpId: 'studio.example.com' });
  });

  it('says why passkeys cannot work at an IP address or over plain http away from localhost', () => {
    expect(publicOriginOf('http://127.0.0.1:8787', 8787).passkeysOff).toMatch(/need the studio at a host name.*IP address.*--origin/);
    expect(publicOriginOf('http://[::1]:8787', 8787).passkeysOff).toMatch(/IP address/);
    expect(publicOriginOf('http://studio.lan', 8787).passkeysOff).toMatch(/need https/);
    expect(publicOriginOf('http://app.localhost:3000', 8787).passkeysOff).toBeUndefined();
  });

  it('reads the origin and the provider from the environment, the name defaulting to the issuer\'s host', () => {
    expect(signInSettingsOf({})).toEqual({});
    expect(signInSettingsOf({ LILYPAD_STUDIO_ORIGIN: 'https://studio.example.com/' }).origin).toBe('https://studio.example.com');
    const settings = signInSettingsOf({ LILYPAD_STUDIO_OIDC_ISSUER: 'https://accounts.example.com', LILYPAD_STUDIO_OIDC_CLIENT_ID: 'studio' });
    expect(settings.oidc).toMatchObject({ clientId: 'studio', name: 'accounts.example.com' });
    expect(settings.oidc!.clientSecret).toBeUndefined();
  });

  it('refuses settings that cannot work, saying which and why', () => {
    expect(() => signInSettingsOf({ LILYPAD_STUDIO_ORIGIN: 'https://studio.example.com/app' })).toThrow(/LILYPAD_STUDIO_ORIGIN must be an origin only/);
    expect(() => signInSettingsOf({ LILYPAD_STUDIO_ORIGIN: 'studio.example.com' })).toThrow(/LILYPAD_STUDIO_ORIGIN must be the address people open the studio at/);
    expect(() => signInSettingsOf({ LILYPAD_STUDIO_OIDC_ISSUER: 'https://accounts.example.com' })).toThrow(/LILYPAD_STUDIO_OIDC_CLIENT_ID is not/);
    expect(() => signInSettingsOf({ LILYPAD_STUDIO_OIDC_CLIENT_ID: 'studio' })).toThrow(/LILYPAD_STUDIO_OIDC_ISSUER is not/);
    expect(() => signInSettingsOf({ LILYPAD_STUDIO_OIDC_ISSUER: 'http://accounts.example.com', LILYPAD_STUDIO_OIDC_CLIENT_ID: 'studio' })).toThrow(/must be an https:\/\/ URL/);
  });
});
