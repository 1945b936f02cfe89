/**
 * `--pidfile FILE`: write this process's id, refusing to start when the file names a process
 * that is alive (another worker already runs); a stale file (its process is gone) is replaced.
 * The file is created exclusively, so two workers starting at once cannot both take it.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { ConfigurationError } from '@tq/core';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Pidfile {
  readonly path: string;
  release(): void;
}

export function acquirePidfile(path: string): Pidfile {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return { path, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigurationError(`cannot create the pid file ${path}: ${(err as Error).message}`);
      const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new ConfigurationError(`the pid file ${path} names a running process (pid ${pid}): is a worker already running? Stop it, or remove the file if that process is not a worker`);
      }
      process.stderr.write(`tq: removing the stale pid file ${path} (pid ${Number.isNaN(pid) ? '?' : pid} is not running)\n`);
      unlinkSync(path);
    }
  }
  throw new ConfigurationError(`could not take the pid file ${path}`);
}
