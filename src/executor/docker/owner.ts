/**
 * Whose a container is. Every container carries its executor's owner and the process that started it, so
 * that a starting executor removes what was left behind: its own owner's containers (a restarted provider),
 * and those of any process on this machine that is gone (killed with SIGKILL, it removed nothing on its way
 * out). A pid can be reused, so the process's start time goes with it; the host name keeps the processes of
 * other machines that share the engine out of it.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

import type Dockerode from 'dockerode';

export const OWNER_LABEL = 'tech.lilypad.owner';
export const PROCESS_LABEL = 'tech.lilypad.process';

/** The start time of a live process (clock ticks since boot), '' where /proc cannot tell; undefined once it has ended. */
function processStart(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : (fields[19] ?? '');
  } catch {
    return '';
  }
}

/** `host/pid/start` of this process. */
export function processMarker(): string {
  return `${os.hostname()}/${process.pid}/${processStart(process.pid) ?? ''}`;
}

/** Whether the process a marker names has ended: on this host, its pid runs no more, or runs another process. */
export function markedProcessGone(marker: string): boolean {
  const [host, pidText, start] = marker.split('/');
  const pid = Number(pidText);
  if (host !== os.hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  const now = processStart(pid);
  return now === undefined || (start !== '' && now !== '' && now !== start);
}

/** Removes the containers of `owner` and of processes that are gone, running or not. */
export async function removeLeftovers(docker: Dockerode, owner: string): Promise<void> {
  const labelled = await docker.listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
  const leftovers = labelled.filter((info) => {
    const marker = info.Labels?.[PROCESS_LABEL];
    return info.Labels?.[OWNER_LABEL] === owner || (marker !== undefined && markedProcessGone(marker));
  });
  await Promise.all(leftovers.map((info) => docker.getContainer(info.Id).remove({ force: true, v: true }).catch(() => {})));
}
