import { ModuleError } from '../../lib/errors.js';

/** A template that does not parse or does not execute; the message is Go's, naming template, line and column. */
export class TemplateError extends ModuleError {
  override name = 'TemplateError';
}
