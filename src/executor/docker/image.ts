/**
 * The image a Docker job names, found by content: a digest pins the bytes; a tag (which can change under the
 * same name) only where the provider allows it.
 */
import type Dockerode from 'dockerode';

import { ExecutorError } from '../../lib/errors.js';
import type { DockerJob } from '../types.js';

export interface ImageOptions {
  allowTags?: boolean;
  pull?: boolean;
}

const DIGEST = /^(?:(?<name>[a-z0-9][a-z0-9._\-/:]*?)@)?sha256:(?<hex>[0-9a-f]{64})$/;

interface ImageReference {
  /** What the job named. */
  reference: string;
  name?: string;
  digest?: string;
}

export function parseImageReference(reference: string): ImageReference {
  const match = DIGEST.exec(reference);
  if (match?.groups) return { reference, name: match.groups.name, digest: `sha256:${match.groups.hex}` };
  return { reference };
}

/** Finds the image the job names, by content; returns its image ID. */
export async function resolveImage(docker: Dockerode, jobId: string, job: DockerJob, options: ImageOptions): Promise<string> {
  const image = parseImageReference(job.image);
  if (!image.digest) {
    if (!options.allowTags) {
      throw new ExecutorError(
        `job ${jobId}: image ${JSON.stringify(job.image)} is not named by digest; name it as NAME@sha256:… or sha256:… (this provider does not run tags)`,
        { code: 'image-not-pinned', details: { jobId, image: job.image } },
      );
    }
    const found = await inspectImage(docker, job.image);
    if (!found) {
      throw new ExecutorError(`job ${jobId}: image ${job.image} is not on this Docker engine`, {
        code: 'image-missing',
        details: { jobId, image: job.image },
      });
    }
    return found.Id;
  }
  const candidates = image.name ? [`${image.name}@${image.digest}`, image.digest] : [image.digest];
  for (const candidate of candidates) {
    const found = await inspectImage(docker, candidate);
    // The engine resolves a name@digest through RepoDigests; an image ID is the digest of its config. Either
    // way the bytes are pinned, and the check keeps a short-ID match or a stale tag from slipping through.
    if (found && (found.Id === image.digest || (found.RepoDigests ?? []).some((d) => d.endsWith(`@${image.digest}`)))) {
      return found.Id;
    }
  }
  if (image.name && (options.pull ?? true)) {
    try {
      const stream = await docker.pull(`${image.name}@${image.digest}`);
      await new Promise<void>((done, fail) => docker.modem.followProgress(stream, (error) => (error ? fail(error) : done())));
      const pulled = await inspectImage(docker, `${image.name}@${image.digest}`);
      if (pulled) return pulled.Id;
    } catch (error) {
      throw new ExecutorError(`job ${jobId}: image ${job.image} is not on this Docker engine and could not be pulled`, {
        code: 'image-missing',
        details: { jobId, image: job.image },
        cause: error,
        retryable: true,
      });
    }
  }
  throw new ExecutorError(`job ${jobId}: image ${job.image} is not on this Docker engine`, {
    code: 'image-missing',
    details: { jobId, image: job.image },
  });
}

async function inspectImage(docker: Dockerode, reference: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(reference).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw engineError(`cannot inspect image ${reference}`, error);
  }
}

export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  return json?.message ?? (error as Error).message ?? String(error);
}

export function engineError(what: string, error: unknown): ExecutorError {
  return new ExecutorError(`${what}: ${engineMessage(error)}`, { code: 'engine-unavailable', cause: error, retryable: true });
}
