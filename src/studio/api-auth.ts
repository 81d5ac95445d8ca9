/**
 * Who a program is: its API key (`Authorization: Bearer <key>`), looked up by hash, and the key's token
 * bucket. One check for every route that takes keys (the REST API and the OpenAI-compatible routes), which
 * each say no in their own error shape.
 */
import type { Context } from 'hono';
import type { RateLimiter } from './rate-limit.js';
import { sha256Hex } from './secrets.js';
import type { ApiKey, StudioStore, User } from './store.js';

export type ApiKeyCheck =
  | { ok: true; user: User; key: ApiKey }
  | { ok: false; reason: 'unauthenticated' | 'invalid-api-key'; message: string }
  | { ok: false; reason: 'rate-limited'; message: string; retryAfterSeconds: number };

export function createApiKeyCheck(store: StudioStore, rateLimiter: RateLimiter): (c: Context) => ApiKeyCheck {
  return (c) => {
    const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    if (!match) return { ok: false, reason: 'unauthenticated', message: 'send your API key as "Authorization: Bearer <key>"; create one on the API keys page' };
    const key = store.useApiKey(sha256Hex(match[1]!));
    const user = key && store.user(key.userId);
    if (!key || !user) return { ok: false, reason: 'invalid-api-key', message: 'this API key is unknown or was revoked' };
    const taken = rateLimiter.take(key.id);
    if (!taken.ok) {
      return { ok: false, reason: 'rate-limited', message: `too many requests with this key: try again in ${taken.retryAfterSeconds} s`, retryAfterSeconds: taken.retryAfterSeconds };
    }
    return { ok: true, user, key };
  };
}
