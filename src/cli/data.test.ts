import { describe, expect, it } from 'vitest';
import { findLocalInputs, parseCid } from './data.js';

describe('findLocalInputs', () => {
  it('@@ stands for a value that starts with @; other values pass as they are', async () => {
    expect(await findLocalInputs({ Handle: '@@lilypad', Message: 'moo@', Empty: '' })).toEqual({
      inputs: { Handle: '@lilypad', Message: 'moo@', Empty: '' },
      paths: new Map(),
    });
  });

  it('@PATH is kept for adding once it is known to exist; a bare @ names nothing', async () => {
    const found = await findLocalInputs({ Data: '@.' });
    expect([...found.paths]).toEqual([['Data', '.']]);
    await expect(findLocalInputs({ Data: '@' })).rejects.toThrow('-i Data=@: no file or folder named');
  });
});

describe('parseCid', () => {
  it('tells a CID from a job id', () => {
    expect(parseCid('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')?.toString()).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
    expect(parseCid('0xabc123')).toBeUndefined();
    expect(parseCid('abc123')).toBeUndefined();
  });
});
