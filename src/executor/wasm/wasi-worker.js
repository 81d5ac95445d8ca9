// @ts-check
/**
 * Runs WASI preview1 jobs, one at a time, inside a worker thread, so that the main thread can stop it at any moment
 * (worker.terminate()) and a trap never reaches the main thread.
 *
 * Everything a program could use to behave differently between runs or machines is replaced here: the
 * clocks are fixed, random bytes come from a seed derived from the job, the environment is the sorted list
 * the main thread sends, file timestamps, inode and device numbers read back as constants, stdin is empty,
 * and the only directories are the preopened /inputs (made read-only) and /outputs.
 *
 * Plain JavaScript on purpose: the same file runs from src/ under vitest and from dist/ after tsc.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

// node:wasi warns that it is experimental when loaded. Drop that warning (in this thread only: a worker has
// its own `process`), print any other, then load it.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'ExperimentalWarning' && /WASI/.test(warning.message)) return;
  process.stderr.write(`(node:${process.pid}, wasi worker) ${warning.name}: ${warning.message}\n`);
});
const { WASI } = await import('node:wasi');

/** 2024-01-01T00:00:00Z: what the realtime clock always says. */
const FIXED_REALTIME_NS = 1_704_067_200_000_000_000n;
/** How far the monotonic and CPU-time clocks move on each reading. */
const CLOCK_STEP_NS = 1_000_000n;
/** argv[0] of every job. */
const PROGRAM_NAME = 'main.wasm';
/** Live output: at most one post per this long while a job writes in a tight loop, and at most this much in one. */
const LIVE_OUTPUT_INTERVAL_MS = 5;
const LIVE_OUTPUT_CHUNK_BYTES = 64 * 1024;

const ERRNO_SUCCESS = 0;
const ERRNO_FAULT = 21;
const ERRNO_INVAL = 28;
const ERRNO_NOSPC = 51;
const ERRNO_NOTSUP = 58;
const ERRNO_SPIPE = 70;
const CLOCK_REALTIME = 0;
const CLOCK_THREAD_CPUTIME = 3;
const FILETYPE_DIRECTORY = 3;

/** WASI rights that leave a directory and everything opened through it read-only. */
const READ_ONLY_RIGHTS =
  (1n << 1n) | // fd_read
  (1n << 2n) | // fd_seek
  (1n << 3n) | // fd_fdstat_set_flags
  (1n << 5n) | // fd_tell
  (1n << 7n) | // fd_advise
  (1n << 13n) | // path_open
  (1n << 14n) | // fd_readdir
  (1n << 15n) | // path_readlink
  (1n << 18n) | // path_filestat_get
  (1n << 21n) | // fd_filestat_get
  (1n << 27n); // poll_fd_readwrite

/**
 * @typedef {object} WorkerJob
 * @property {WebAssembly.Module} module
 * @property {string} entryPoint
 * @property {string[]} args argv after argv[0]
 * @property {Array<[string, string]>} env sorted by name
 * @property {Record<string, string>} preopens guest path to host path, /inputs first
 * @property {number | undefined} readOnlyFd the preopen to make read-only (/inputs)
 * @property {string} randomSeed hex, 32 bytes
 * @property {number} stdin
 * @property {number} stdout
 * @property {number} stderr
 * @property {number} stdoutLimit bytes of stdout kept
 * @property {number} stderrLimit bytes of stderr kept
 * @property {number} outputsLimit bytes the job may write under /outputs
 * @property {boolean} [liveOutput] post stdout's kept bytes to the main thread as they are written
 */

/**
 * What the job did with its write budgets, reported back with the exit code, and the highest file
 * descriptor it had.
 * @typedef {{ stdout: boolean, stderr: boolean, outputsFull: boolean, highestFd: number }} WriteReport
 */

/**
 * @typedef {{ type: 'exited', exitCode: number, memoryBytes: number, report: WriteReport }
 *   | { type: 'failed', reason: 'trap' | 'link' | 'internal', message: string, stack?: string,
 *       memoryBytes?: number, report?: WriteReport }} WorkerReply
 */

/**
 * A deterministic byte stream: SHA-256(seed || counter) blocks, counter as 8 bytes big-endian.
 * @param {Buffer} seed
 */
function createRandomStream(seed) {
  let counter = 0n;
  let block = Buffer.alloc(0);
  let used = 0;
  /** @param {Uint8Array} target */
  return function fill(target) {
    for (let offset = 0; offset < target.length; ) {
      if (used === block.length) {
        const counterBytes = Buffer.alloc(8);
        counterBytes.writeBigUInt64BE(counter++);
        block = createHash('sha256').update(seed).update(counterBytes).digest();
        used = 0;
      }
      const take = Math.min(block.length - used, target.length - offset);
      target.set(block.subarray(used, used + take), offset);
      used += take;
      offset += take;
    }
  };
}

/**
 * Posts stdout's bytes to the main thread as the job writes them (`{ type: 'output', bytes }`), for a live view.
 * The job runs synchronously in this thread, so there is no timer to batch by: a write is posted at once, unless
 * the last post was under LIVE_OUTPUT_INTERVAL_MS ago (a job printing in a tight loop), when it waits for the
 * next write or the job's end. What the job sees does not depend on it.
 * @param {import('node:worker_threads').MessagePort} port
 */
function createLiveOutput(port) {
  /** @type {Uint8Array[]} */
  let pending = [];
  let pendingBytes = 0;
  let lastPost = -Infinity;
  const flush = () => {
    if (pendingBytes === 0) return;
    const bytes = new Uint8Array(pendingBytes);
    let at = 0;
    for (const part of pending) {
      bytes.set(part, at);
      at += part.length;
    }
    pending = [];
    pendingBytes = 0;
    lastPost = performance.now();
    port.postMessage({ type: 'output', bytes }, [bytes.buffer]);
  };
  return {
    flush,
    /** @param {Uint8Array} view bytes in the job's memory, copied here */
    write(view) {
      pending.push(new Uint8Array(view)); // a copy: a Buffer's slice() would still be the job's memory
      pendingBytes += view.length;
      if (pendingBytes >= LIVE_OUTPUT_CHUNK_BYTES || performance.now() - lastPost >= LIVE_OUTPUT_INTERVAL_MS) flush();
    },
  };
}

/**
 * The WASI imports with every source of difference replaced.
 * @param {Record<string, any>} wasiImport node:wasi's own imports
 * @param {() => WebAssembly.Memory} getMemory the instance's memory (known only after instantiation)
 * @param {WorkerJob} job
 * @param {WriteReport} report filled in as the job writes
 * @param {{ write(view: Uint8Array): void } | undefined} liveOutput told of stdout's kept bytes
 */
function deterministicImports(wasiImport, getMemory, job, report, liveOutput) {
  let monotonic = 0n;
  const random = createRandomStream(Buffer.from(job.randomSeed, 'hex'));
  const environ = job.env.map(([name, value]) => Buffer.from(`${name}=${value}\0`, 'utf8'));
  const environSize = environ.reduce((total, entry) => total + entry.length, 0);

  /** @param {number} pointer @param {number} length */
  const inBounds = (pointer, length) => pointer + length <= getMemory().buffer.byteLength;
  const view = () => new DataView(getMemory().buffer);

  /** Constants for what a stat reveals of the host: device, inode, link count, directory size, times. */
  /** @param {number} pointer a filestat */
  const sanitizeFilestat = (pointer) => {
    const data = view();
    data.setBigUint64(pointer + 0, 0n, true); // dev
    data.setBigUint64(pointer + 8, 0n, true); // ino
    data.setBigUint64(pointer + 24, 1n, true); // nlink
    if (data.getUint8(pointer + 16) === FILETYPE_DIRECTORY) data.setBigUint64(pointer + 32, 0n, true);
    for (const field of [40, 48, 56]) data.setBigUint64(pointer + field, FIXED_REALTIME_NS, true);
  };

  /**
   * stdout and stderr go to the host files here, not through uvwasi, so that they stop growing at their cap:
   * what is past it is dropped while the job is told it was written, so a chatty job still finishes.
   */
  const streams = {
    1: { fd: job.stdout, limit: job.stdoutLimit, written: 0, name: /** @type {'stdout'} */ ('stdout') },
    2: { fd: job.stderr, limit: job.stderrLimit, written: 0, name: /** @type {'stderr'} */ ('stderr') },
  };
  /** Bytes written (or reserved by a resize) under /outputs so far; every write counts, rewrites too. */
  let outputsUsed = 0;

  /** @param {number} iovs @param {number} count @returns {Buffer[] | undefined} */
  const readIovecs = (iovs, count) => {
    const pointer = iovs >>> 0;
    if (!inBounds(pointer, count * 8)) return undefined;
    const data = view();
    const buffers = [];
    for (let index = 0; index < count; index++) {
      const base = data.getUint32(pointer + index * 8, true);
      const length = data.getUint32(pointer + index * 8 + 4, true);
      if (!inBounds(base, length)) return undefined;
      buffers.push(Buffer.from(getMemory().buffer, base, length));
    }
    return buffers;
  };

  /** @param {number} iovs @param {number} count */
  const iovecTotal = (iovs, count) => {
    const buffers = readIovecs(iovs, count);
    return buffers ? buffers.reduce((total, buffer) => total + buffer.length, 0) : undefined;
  };

  /** Reserves `bytes` of the /outputs budget, or says the disk is full. @param {number} bytes */
  const reserveOutputs = (bytes) => {
    if (outputsUsed + bytes > job.outputsLimit) {
      report.outputsFull = true;
      return false;
    }
    outputsUsed += bytes;
    return true;
  };

  return {
    ...wasiImport,

    /** @param {number} fd @param {number} iovs @param {number} count @param {number} writtenPointer */
    fd_write(fd, iovs, count, writtenPointer) {
      const stream = fd === 1 ? streams[1] : fd === 2 ? streams[2] : undefined;
      if (!stream) {
        const total = iovecTotal(iovs, count);
        if (total === undefined) return ERRNO_FAULT;
        if (!reserveOutputs(total)) return ERRNO_NOSPC;
        return wasiImport.fd_write(fd, iovs, count, writtenPointer);
      }
      const buffers = readIovecs(iovs, count);
      if (!buffers || !inBounds(writtenPointer >>> 0, 4)) return ERRNO_FAULT;
      let total = 0;
      for (const buffer of buffers) {
        total += buffer.length;
        const room = stream.limit - stream.written;
        const keep = Math.min(room, buffer.length);
        if (keep > 0) {
          writeSync(stream.fd, buffer, 0, keep);
          if (fd === 1) liveOutput?.write(buffer.subarray(0, keep));
        }
        stream.written += keep;
        if (keep < buffer.length) report[stream.name] = true;
      }
      view().setUint32(writtenPointer >>> 0, total, true);
      return ERRNO_SUCCESS;
    },

    /** @param {number} fd @param {number} iovs @param {number} count @param {bigint} offset @param {number} writtenPointer */
    fd_pwrite(fd, iovs, count, offset, writtenPointer) {
      if (fd <= 2) return ERRNO_SPIPE;
      const total = iovecTotal(iovs, count);
      if (total === undefined) return ERRNO_FAULT;
      if (!reserveOutputs(total)) return ERRNO_NOSPC;
      return wasiImport.fd_pwrite(fd, iovs, count, offset, writtenPointer);
    },

    /** @param {number} fd @param {bigint} offset @param {number} whence @param {number} resultPointer */
    fd_seek(fd, offset, whence, resultPointer) {
      if (fd <= 2) return ERRNO_SPIPE; // the streams are pipes to the job, whatever the host has behind them
      return wasiImport.fd_seek(fd, offset, whence, resultPointer);
    },

    /** @param {number} fd @param {bigint} size */
    fd_filestat_set_size(fd, size) {
      if (fd <= 2) return ERRNO_INVAL;
      if (!reserveOutputs(Number(size))) return ERRNO_NOSPC;
      return wasiImport.fd_filestat_set_size(fd, size);
    },

    /** @param {number} fd @param {bigint} offset @param {bigint} length */
    fd_allocate(fd, offset, length) {
      if (fd <= 2) return ERRNO_INVAL;
      if (!reserveOutputs(Number(offset + length))) return ERRNO_NOSPC;
      return wasiImport.fd_allocate(fd, offset, length);
    },

    /** Moving another file onto the standard streams (dup2) would slip past their caps. */
    /** @param {number} from @param {number} to */
    fd_renumber(from, to) {
      if (from <= 2 || to <= 2) return ERRNO_NOTSUP;
      report.highestFd = Math.max(report.highestFd, to);
      return wasiImport.fd_renumber(from, to);
    },

    /**
     * Remembers the highest descriptor the job opened: uvwasi never closes what a job leaves open (nor the
     * preopens), so the worker closes them all when the job ends.
     * @param {number} dirFd @param {number} lookupFlags @param {number} path @param {number} pathLength
     * @param {number} openFlags @param {bigint} rightsBase @param {bigint} rightsInheriting @param {number} fdFlags
     * @param {number} fdPointer
     */
    path_open(dirFd, lookupFlags, path, pathLength, openFlags, rightsBase, rightsInheriting, fdFlags, fdPointer) {
      const errno = wasiImport.path_open(dirFd, lookupFlags, path, pathLength, openFlags, rightsBase, rightsInheriting, fdFlags, fdPointer);
      if (errno === ERRNO_SUCCESS) report.highestFd = Math.max(report.highestFd, view().getUint32(fdPointer >>> 0, true));
      return errno;
    },

    /** @param {number} id @param {bigint} _precision @param {number} resultPointer */
    clock_time_get(id, _precision, resultPointer) {
      const pointer = resultPointer >>> 0;
      if (id < CLOCK_REALTIME || id > CLOCK_THREAD_CPUTIME) return ERRNO_INVAL;
      if (!inBounds(pointer, 8)) return ERRNO_FAULT;
      let now = FIXED_REALTIME_NS;
      if (id !== CLOCK_REALTIME) {
        monotonic += CLOCK_STEP_NS;
        now = monotonic;
      }
      view().setBigUint64(pointer, now, true);
      return ERRNO_SUCCESS;
    },

    /** @param {number} id @param {number} resultPointer */
    clock_res_get(id, resultPointer) {
      const pointer = resultPointer >>> 0;
      if (id < CLOCK_REALTIME || id > CLOCK_THREAD_CPUTIME) return ERRNO_INVAL;
      if (!inBounds(pointer, 8)) return ERRNO_FAULT;
      view().setBigUint64(pointer, CLOCK_STEP_NS, true);
      return ERRNO_SUCCESS;
    },

    /** @param {number} bufferPointer @param {number} length */
    random_get(bufferPointer, length) {
      const pointer = bufferPointer >>> 0;
      const size = length >>> 0;
      if (!inBounds(pointer, size)) return ERRNO_FAULT;
      random(new Uint8Array(getMemory().buffer, pointer, size));
      return ERRNO_SUCCESS;
    },

    /** @param {number} countPointer @param {number} sizePointer */
    environ_sizes_get(countPointer, sizePointer) {
      if (!inBounds(countPointer >>> 0, 4) || !inBounds(sizePointer >>> 0, 4)) return ERRNO_FAULT;
      view().setUint32(countPointer >>> 0, environ.length, true);
      view().setUint32(sizePointer >>> 0, environSize, true);
      return ERRNO_SUCCESS;
    },

    /** @param {number} listPointer @param {number} bufferPointer */
    environ_get(listPointer, bufferPointer) {
      const list = listPointer >>> 0;
      let at = bufferPointer >>> 0;
      if (!inBounds(list, environ.length * 4) || !inBounds(at, environSize)) return ERRNO_FAULT;
      const bytes = new Uint8Array(getMemory().buffer);
      environ.forEach((entry, index) => {
        view().setUint32(list + index * 4, at, true);
        bytes.set(entry, at);
        at += entry.length;
      });
      return ERRNO_SUCCESS;
    },

    /** @param {number} fd @param {number} resultPointer */
    fd_filestat_get(fd, resultPointer) {
      const errno = wasiImport.fd_filestat_get(fd, resultPointer);
      if (errno === ERRNO_SUCCESS) sanitizeFilestat(resultPointer >>> 0);
      return errno;
    },

    /** @param {number} fd @param {number} flags @param {number} path @param {number} pathLength @param {number} resultPointer */
    path_filestat_get(fd, flags, path, pathLength, resultPointer) {
      const errno = wasiImport.path_filestat_get(fd, flags, path, pathLength, resultPointer);
      if (errno === ERRNO_SUCCESS) sanitizeFilestat(resultPointer >>> 0);
      return errno;
    },
  };
}

/**
 * Drops every right to change anything from a preopened directory, for itself and all it opens; uvwasi checks
 * rights on each call. Rights can only shrink, so the current ones are read first (through a borrowed
 * 24 bytes of the module's memory, given back afterwards).
 * @param {Record<string, any>} wasiImport
 * @param {WebAssembly.Memory} memory
 * @param {number} fd
 */
function makeReadOnly(wasiImport, memory, fd) {
  const bytes = new Uint8Array(memory.buffer, 0, 24);
  const saved = bytes.slice();
  let errno = wasiImport.fd_fdstat_get(fd, 0);
  const data = new DataView(memory.buffer);
  const base = data.getBigUint64(8, true);
  const inheriting = data.getBigUint64(16, true);
  bytes.set(saved);
  if (errno === ERRNO_SUCCESS) {
    errno = wasiImport.fd_fdstat_set_rights(fd, base & READ_ONLY_RIGHTS, inheriting & READ_ONLY_RIGHTS);
  }
  if (errno !== ERRNO_SUCCESS) throw new Error(`could not make /inputs read-only (WASI errno ${errno})`);
}

/**
 * @param {WorkerJob} job
 * @returns {WorkerReply}
 */
function runJob(job) {
  const liveOutput = job.liveOutput && parentPort ? createLiveOutput(parentPort) : undefined;
  /** @type {WriteReport} */
  const report = { stdout: false, stderr: false, outputsFull: false, highestFd: 2 + Object.keys(job.preopens).length };
  const wasi = new WASI({
    version: 'preview1',
    args: [PROGRAM_NAME, ...job.args],
    env: {}, // served by environ_get below, in the order the main thread sorted
    preopens: job.preopens,
    stdin: job.stdin,
    stdout: job.stdout,
    stderr: job.stderr,
    returnOnExit: true,
  });
  /** @type {WebAssembly.Memory | undefined} */
  let memory;
  const getMemory = () => {
    if (!memory) throw new Error('WASI call before the instance exists');
    return memory;
  };
  const imports = { wasi_snapshot_preview1: deterministicImports(wasi.wasiImport, getMemory, job, report, liveOutput) };

  let instance;
  try {
    instance = new WebAssembly.Instance(job.module, imports);
  } catch (error) {
    for (let fd = 3; fd <= report.highestFd; fd++) wasi.wasiImport.fd_close(fd);
    if (error instanceof WebAssembly.LinkError) return failed('link', error);
    if (error instanceof WebAssembly.RuntimeError) return failed('trap', error); // a start function trapped
    throw error;
  }
  const exports = instance.exports;
  memory = /** @type {WebAssembly.Memory} */ (exports.memory);
  const entry = /** @type {() => void} */ (exports[job.entryPoint]);
  const initialize = exports._initialize;

  // wasi.start() wants `_start` and sets up memory; hand it the chosen entry point under that name.
  const command = {
    exports: {
      memory,
      _start: () => {
        if (job.readOnlyFd !== undefined) makeReadOnly(wasi.wasiImport, memory, job.readOnlyFd);
        if (job.entryPoint !== '_start' && typeof initialize === 'function') initialize();
        entry();
      },
    },
  };
  try {
    const exitCode = wasi.start(command);
    return { type: 'exited', exitCode, memoryBytes: memory.buffer.byteLength, report };
  } catch (error) {
    // A trap, or the stack running out inside the module: the job's fault, not ours.
    const trapped = error instanceof WebAssembly.RuntimeError || (error instanceof RangeError && /call stack/.test(error.message));
    if (trapped) return { ...failed('trap', error), memoryBytes: memory.buffer.byteLength, report };
    throw error;
  } finally {
    // The preopens and whatever the job left open are host descriptors of this process; close them.
    for (let fd = 3; fd <= report.highestFd; fd++) wasi.wasiImport.fd_close(fd);
    liveOutput?.flush(); // before the reply, so that the main thread has all of it when the job ends
  }
}

/**
 * @param {'trap' | 'link' | 'internal'} reason
 * @param {unknown} error
 * @returns {WorkerReply}
 */
function failed(reason, error) {
  const { message, stack } = error instanceof Error ? error : { message: String(error), stack: undefined };
  return { type: 'failed', reason, message, stack };
}

if (parentPort) {
  const port = parentPort;
  // One job at a time; the main thread sends the next only after this one's reply.
  port.on('message', (/** @type {WorkerJob} */ job) => {
    /** @type {WorkerReply} */
    let reply;
    try {
      reply = runJob(job);
    } catch (error) {
      reply = failed('internal', error);
    }
    port.postMessage(reply);
  });
}
