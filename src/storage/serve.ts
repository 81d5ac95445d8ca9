/**
 * Serving blocks in the IPFS trustless-gateway style (https://specs.ipfs.tech/http-gateways/trustless-gateway/):
 * `GET /ipfs/<cid>?format=raw` gives one block, `?format=car` the whole DAG as a CARv1. The receiver checks
 * every block against its CID, so the gateway needs no trust and does no checking of its own.
 */
import { Hono, type Context } from 'hono';
import type { Blockstore } from 'interface-blockstore';
import { CID } from 'multiformats/cid';
import { listen } from '../lib/http-server.js';
import { getBlock } from './blockstore.js';
import { CAR_CONTENT_TYPE, carOfDag } from './car.js';
import { RAW_CONTENT_TYPE } from './dag.js';

export interface GatewayComponents {
  blockstore: Pick<Blockstore, 'get' | 'has'>;
}

/** A Hono app with the gateway routes; mount it with `app.route('/', createGateway(...))`. */
export function createGateway(components: GatewayComponents): Hono {
  return addGatewayRoutes(new Hono(), components);
}

/** Adds `GET /ipfs/:cid` to `app` and returns it. */
export function addGatewayRoutes(app: Hono, components: GatewayComponents): Hono {
  const { blockstore } = components;

  app.get('/ipfs/:cid', async (c) => {
    const text = c.req.param('cid');
    let cid: CID;
    try {
      cid = CID.parse(text);
    } catch {
      return problem(c, 400, 'invalid-cid', `${JSON.stringify(text)} is not a CID`);
    }

    const format = chooseFormat(c.req.query('format'), c.req.header('accept'));
    if (format === 'unsupported') {
      return problem(
        c,
        400,
        'unsupported-format',
        `format ${JSON.stringify(c.req.query('format'))} is not served; ask for format=raw or format=car`,
      );
    }
    if (format === undefined) {
      return problem(
        c,
        406,
        'not-acceptable',
        `this is a trustless gateway; ask for ?format=raw (${RAW_CONTENT_TYPE}) or ?format=car (application/vnd.ipld.car)`,
      );
    }

    if (!(await blockstore.has(cid))) {
      return problem(c, 404, 'block-missing', `block ${cid} is not held here`);
    }

    const headers: Record<string, string> = {
      'cache-control': 'public, max-age=29030400, immutable',
      'x-content-type-options': 'nosniff',
      'x-ipfs-roots': cid.toString(),
      vary: 'Accept',
    };

    if (format === 'raw') {
      const bytes = await getBlock(blockstore, cid, { signal: c.req.raw.signal });
      // Blocks never live in shared memory; the cast only narrows ArrayBufferLike for the Response type.
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        status: 200,
        headers: {
          ...headers,
          'content-type': RAW_CONTENT_TYPE,
          'content-length': String(bytes.byteLength),
          'content-disposition': `attachment; filename="${cid}.bin"`,
          etag: `"${cid}.raw"`,
        },
      });
    }

    // A CAR streams; a block missing half-way can only end the stream early, which the receiver notices
    // when the DAG it verifies is incomplete.
    const body = toStream(carOfDag(cid, blockstore, { signal: c.req.raw.signal }));
    return new Response(body, {
      status: 200,
      headers: {
        ...headers,
        'content-type': CAR_CONTENT_TYPE,
        'content-disposition': `attachment; filename="${cid}.car"`,
        etag: `"${cid}.car"`,
      },
    });
  });

  return app;
}

export interface RunningGateway {
  /** Base URL, e.g. `http://127.0.0.1:43121`; blocks are at `${url}/ipfs/<cid>?format=raw`. */
  url: string;
  close(): Promise<void>;
}

export interface StartGatewayOptions {
  hostname?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
}

/** Serves the gateway over HTTP (on 127.0.0.1 and a free port unless told otherwise). */
export async function startGateway(
  components: GatewayComponents,
  options: StartGatewayOptions = {},
): Promise<RunningGateway> {
  const server = await listen(createGateway(components), { host: options.hostname, port: options.port });
  return { url: server.url, close: server.close };
}

type Format = 'raw' | 'car' | 'unsupported' | undefined;

function chooseFormat(query: string | undefined, accept: string | undefined): Format {
  if (query !== undefined) {
    if (query === 'raw') return 'raw';
    if (query === 'car') return 'car';
    return 'unsupported';
  }
  const wanted = (accept ?? '').toLowerCase();
  if (wanted.includes(RAW_CONTENT_TYPE)) return 'raw';
  if (wanted.includes('application/vnd.ipld.car')) return 'car';
  return undefined;
}

function problem(c: Context, status: 400 | 404 | 406, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}

function toStream(source: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await source.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await source.return(undefined);
    },
  });
}
