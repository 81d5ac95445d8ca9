import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { dealIdOfFrame, encodeDealIdFrame, encodeFrame, FrameReader, JOB_OUTPUT_LIMITS } from './job-output.js';

describe('job output frames', () => {
  test('frames come back whole and in order, however the bytes are cut on the way', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (payloads, cuts) => {
          const wire = Buffer.concat(payloads.map(encodeFrame));
          const reader = new FrameReader(JOB_OUTPUT_LIMITS.frameBytes);
          const frames: Uint8Array[] = [];
          for (let at = 0, cut = 0; at < wire.length; at += cuts[cut++ % cuts.length]!) {
            frames.push(...reader.push(wire.subarray(at, at + cuts[cut % cuts.length]!)));
          }
          expect(frames.map((frame) => Buffer.from(frame).toString('hex'))).toEqual(payloads.map((payload) => Buffer.from(payload).toString('hex')));
        },
      ),
    );
  });

  test('a frame longer than the limit is refused as soon as its length is read', () => {
    const reader = new FrameReader(16);
    expect(() => reader.push(encodeFrame(new Uint8Array(17)).subarray(0, 4))).toThrow('a frame of 17 bytes, more than the 16 allowed');
  });

  test('the first frame carries the deal id; anything else is not one', () => {
    const dealId = `0x${'ab'.repeat(32)}` as const;
    const [frame] = new FrameReader(64).push(encodeDealIdFrame(dealId));
    expect(dealIdOfFrame(frame!)).toBe(dealId);
    expect(dealIdOfFrame(new Uint8Array(31))).toBeUndefined();
  });
});
