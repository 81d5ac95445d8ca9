/**
 * Removing the blocks nothing needs any more, from a blockstore that is written while it is swept:
 * mark-and-sweep. Blocks are shared between DAGs (the same chunk is stored once), so a block goes only when
 * no live root reaches it. Every reader and writer goes through `SweepableBlockstore`, which is how a sweep
 * sees the blocks touched while it runs and keeps them.
 */
import type { Blockstore, InputPair, Pair } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { getBlock } from './blockstore.js';
import { blockLinks } from './dag.js';

interface AbortOptions {
  signal?: AbortSignal;
}

export interface SweepResult {
  /** Blocks in the store when the sweep began. */
  blocks: number;
  removed: number;
  removedBytes: number;
}

/**
 * The blockstore's key of a CID: its multihash. A store keys blocks by multihash (blockstore-fs gives them
 * back as raw-codec CIDs), so a dag-pb link and a listed raw CID of the same bytes must compare equal.
 */
const keyOf = (cid: CID) => Buffer.from(cid.multihash.bytes).toString('base64url');

export class SweepableBlockstore implements Blockstore {
  /** Keys of the blocks read or written since the running sweep began; undefined when none runs. */
  private touched: Set<string> | undefined;
  /** Blocks being removed now: a read or write of one waits until it is gone, then sees it absent. */
  private readonly removing = new Map<string, Promise<void>>();
  /** The blocks written by each `holding` writer still at work: kept by every sweep, whenever written. */
  private readonly holds = new Set<Set<string>>();
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(readonly inner: Blockstore) {}

  /** A block touched while a sweep runs is kept by it: its writer's root may not be recorded yet. */
  private async touch(cid: CID): Promise<void> {
    const key = keyOf(cid);
    this.touched?.add(key);
    await this.removing.get(key);
  }

  async put(cid: CID, bytes: InputPair['bytes'], options?: AbortOptions): Promise<CID> {
    await this.touch(cid);
    return this.inner.put(cid, bytes, options);
  }

  async *putMany(source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const pair of source) yield await this.put(pair.cid, pair.bytes, options);
  }

  async *get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    await this.touch(cid);
    yield* this.inner.get(cid, options);
  }

  async *getMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) };
  }

  async has(cid: CID, options?: AbortOptions): Promise<boolean> {
    await this.touch(cid);
    return this.inner.has(cid, options);
  }

  async delete(cid: CID, options?: AbortOptions): Promise<void> {
    await this.inner.delete(cid, options);
  }

  async *deleteMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options);
      yield cid;
    }
  }

  getAll(options?: AbortOptions): Generator<Pair> | AsyncGenerator<Pair> {
    return this.inner.getAll(options);
  }

  /**
   * Runs `write` with a store whose blocks every sweep keeps until `write` returns, for a writer whose root
   * is known only at its end: an import writes its leaves first and its root last, so a sweep meanwhile
   * could not reach them from any recorded root. `write` records the root before it returns.
   */
  async holding<T>(write: (blockstore: Pick<Blockstore, 'put'>) => Promise<T>): Promise<T> {
    const held = new Set<string>();
    this.holds.add(held);
    try {
      return await write({
        put: (cid, bytes, options) => {
          held.add(keyOf(cid));
          return this.put(cid, bytes, options);
        },
      });
    } finally {
      this.holds.delete(held);
    }
  }

  private isHeld(key: string): boolean {
    for (const held of this.holds) if (held.has(key)) return true;
    return false;
  }

  async close(): Promise<void> {
    await (this.inner as Blockstore & { close?: () => Promise<void> | void }).close?.();
  }

  /**
   * Removes every block that no root from `liveRoots` reaches and that nobody read or wrote while the sweep
   * ran. Sweeps run one after another, never two at once.
   *
   * The race with writers: a job importing its result has not recorded the result's root yet. Its blocks are
   * held (`holding`) until the root is recorded; blocks are listed first and the live roots read only
   * afterwards, so a root recorded before that read is marked; a block read or written after the sweep began
   * is kept whatever its root (`touched`: a fetch that found it present relies on it); and a block is removed
   * only while nobody touches it (`removing` makes a reader or writer wait, then find it absent).
   */
  sweep(liveRoots: () => Iterable<CID>, options: AbortOptions = {}): Promise<SweepResult> {
    const run = this.sweeping.catch(() => undefined).then(() => this.sweepOnce(liveRoots, options));
    this.sweeping = run;
    return run;
  }

  private async sweepOnce(liveRoots: () => Iterable<CID>, options: AbortOptions): Promise<SweepResult> {
    const touched = new Set<string>();
    this.touched = touched;
    try {
      const listed: CID[] = [];
      for await (const { cid } of this.inner.getAll(options)) listed.push(cid);
      const live = await this.mark(liveRoots(), options);
      let removed = 0;
      let removedBytes = 0;
      for (const cid of listed) {
        options.signal?.throwIfAborted();
        const key = keyOf(cid);
        if (live.has(key) || touched.has(key) || this.isHeld(key)) continue;
        const bytes = (await getBlock(this.inner, cid, options).catch(() => undefined))?.byteLength;
        // Checked again after the read: a writer may have come meanwhile.
        if (bytes === undefined || touched.has(key) || this.isHeld(key)) continue;
        const removal = Promise.resolve(this.inner.delete(cid, options));
        this.removing.set(key, removal.catch(() => undefined));
        try {
          await removal;
        } finally {
          this.removing.delete(key);
        }
        removed += 1;
        removedBytes += bytes;
      }
      return { blocks: listed.length, removed, removedBytes };
    } finally {
      this.touched = undefined;
    }
  }

  /** The keys of every block present that a root reaches; a missing block is skipped with what is under it. */
  private async mark(roots: Iterable<CID>, options: AbortOptions): Promise<Set<string>> {
    const live = new Set<string>();
    const queue = [...roots];
    for (let cid = queue.pop(); cid !== undefined; cid = queue.pop()) {
      const key = keyOf(cid);
      if (live.has(key)) continue;
      options.signal?.throwIfAborted();
      if (!(await this.inner.has(cid, options))) continue;
      live.add(key);
      // A raw block (most of a DAG: the file chunks) links nothing and need not be read.
      if (cid.code === raw.code) continue;
      // A block being written now may not read or decode whole yet: it is kept without following its links,
      // which a fetch writes only after it, so while this sweep runs (they are touched).
      const bytes = await getBlock(this.inner, cid, options).catch(() => undefined);
      try {
        if (bytes) queue.push(...blockLinks(cid, bytes));
      } catch {
        // kept, as above
      }
    }
    return live;
  }
}
