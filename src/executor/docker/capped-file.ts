/** A result file (stdout, stderr) that keeps the first bytes written to it, up to its cap. */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** A result file that keeps the first `limit` bytes written to it and drops the rest. */
export class CappedFile {
  truncated = false;
  private written = 0;
  private stream: Writable | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly handle: FileHandle,
    private readonly limit: number,
    private readonly onKept?: (chunk: Uint8Array) => void,
  ) {}

  /** `onKept` is told of each chunk the file keeps, as it comes (ExecutionRequest.onOutput). */
  static async open(path: string, limit: number, onKept?: (chunk: Uint8Array) => void): Promise<CappedFile> {
    return new CappedFile(await open(path, 'w'), limit, onKept);
  }

  writable(): Writable {
    this.stream ??= new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        const keep = Math.min(Math.max(this.limit - this.written, 0), chunk.length);
        if (keep < chunk.length) this.truncated = true;
        if (keep === 0) return callback();
        this.written += keep;
        try {
          this.onKept?.(chunk.subarray(0, keep));
        } catch {
          // a live view's failure is not the job's
        }
        this.handle.write(chunk, 0, keep).then(() => callback(), callback);
      },
    });
    return this.stream;
  }

  /** Writes what is still queued, then closes the file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stream = this.stream;
      if (stream && !stream.destroyed) {
        await new Promise<void>((done) => {
          stream.once('error', () => done());
          stream.end(done);
        });
      }
      await this.handle.close();
    })();
    return this.closing;
  }
}
