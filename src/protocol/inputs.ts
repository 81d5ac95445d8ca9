/**
 * The one reader of a job's inputs written as `KEY=VALUE` text: `lilypad run -i` and `lilypad module`
 * on the command line, and the on-chain job creator's input lines in the bridge. Both read them by the
 * same rules, so an input that one accepts the other accepts too:
 *
 * - The first `=` splits key from value; the value may hold more `=` (`-i Query=a=b` gives `a=b`) and may
 *   be empty (`-i Message=`).
 * - An entry without `=`, or with nothing before it, is an error: there is no input to name.
 * - A key is letters, digits and `_`, not starting with a digit: the names a module's template can read as
 *   `{{ .Key }}` (Go's field names, Unicode letters included). Any other key could never reach the template.
 * - A key is at most `INPUT_LIMITS.keyLength` characters and a value at most `INPUT_LIMITS.valueLength`:
 *   what every solver and provider accepts in a job offer, so a longer one fails here rather than later.
 * - A key given twice is an error rather than the last one silently winning: one of the two values
 *   would be lost without the user knowing which.
 *
 * Module environment variables (`EnvironmentVariables` as `NAME=value` strings) are not inputs: they are
 * the module author's, follow Docker's rules rather than the template's, and are read in `module/spec.ts`.
 */
import { UserInputError } from '../lib/errors.js';
import { shownValue } from '../lib/service-config.js';
import { INPUT_LIMITS } from './offers.js';

export interface ParseInputsOptions {
  /** The flag the entries came with (`-i`), for messages that repeat what the user typed; absent: `input "…"`. */
  flag?: string;
}

/** Go's field names: what `{{ .Key }}` can read. */
const KEY = /^[\p{L}_][\p{L}\p{Nd}_]*$/u;

/** Parses `KEY=VALUE` entries into inputs by the rules above; a broken entry throws a one-line UserInputError. */
export function parseInputs(entries: readonly string[], options: ParseInputsOptions = {}): Record<string, string> {
  const named = (text: string) => (options.flag ? `${options.flag} ${text}` : `input ${JSON.stringify(text)}`);
  const example = options.flag ? `${options.flag} Message=moo` : 'Message=moo';
  // A Map, so that a key such as __proto__ is an input like any other rather than an object's prototype.
  const inputs = new Map<string, string>();
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    if (equals <= 0) {
      throw new UserInputError(`${named(shownValue(entry))}: inputs are KEY=VALUE, for example ${example}`, { code: 'input-malformed' });
    }
    const key = entry.slice(0, equals);
    const value = entry.slice(equals + 1);
    if (key.length > INPUT_LIMITS.keyLength) {
      throw new UserInputError(
        `${named(`${shownValue(key)}=…`)}: the input name is ${key.length} characters; the network takes names of at most ${INPUT_LIMITS.keyLength}`,
        { code: 'input-too-long' },
      );
    }
    if (!KEY.test(key)) {
      throw new UserInputError(
        `${named(`${shownValue(key)}=…`)}: an input name is letters, digits and _, not starting with a digit (a template reads it as {{ .Name }})`,
        { code: 'input-malformed' },
      );
    }
    if (value.length > INPUT_LIMITS.valueLength) {
      throw new UserInputError(`${named(`${key}=…`)}: the value is ${value.length} characters; the network takes at most ${INPUT_LIMITS.valueLength}`, {
        code: 'input-too-long',
      });
    }
    if (inputs.has(key)) {
      throw new UserInputError(`${named(`${key}=…`)}: ${key} is given twice; give each input once`, { code: 'input-duplicate' });
    }
    inputs.set(key, value);
  }
  return Object.fromEntries(inputs);
}
