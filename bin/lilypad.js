#!/usr/bin/env node
// The CLI runs from the compiled output; `npm install` builds it (the `prepare` script).
import('../dist/lilypad.mjs').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/lilypad.mjs')) {
    process.stderr.write('lilypad is not built yet: run `npm install` (or `npm run build`) in the repository first\n');
    process.exit(1);
  }
  throw error;
});
