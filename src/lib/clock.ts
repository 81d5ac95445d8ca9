/**
 * Wall-clock time in the unit the chain and signed offers use: whole unix seconds as a bigint. One place,
 * so that a test can see every use and nobody writes the rounding differently.
 */

/** Now, in whole unix seconds. */
export function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}

/** `seconds` from now, in whole unix seconds: an expiry or a deadline. */
export function secondsFromNow(seconds: number | bigint): bigint {
  return nowSeconds() + BigInt(seconds);
}

/** Milliseconds from now until unix second `at` (negative once it has passed). */
export function msUntil(at: bigint): number {
  return Number(at) * 1000 - Date.now();
}
