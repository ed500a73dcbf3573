/** The default of Xen's build (`XEN_RUN_STORED`, configure's `$localstatedir/run/xenstored`). */
export const DEFAULT_XENSTORED_RUNDIR = '/var/run/xenstored';

/**
 * Where xenstored's socket is, looked up as libxenstore does (`xenstore_daemon_path()` in
 * tools/include/xen-tools/xenstore-common.h, Xen 4.17+): `$XENSTORED_PATH` when set, else
 * `${XENSTORED_RUNDIR:-/var/run/xenstored}/socket`. An explicit path (a configuration key) comes
 * before both. libxenstore also opens XENSTORED_PATH as a device when it is not a socket (a
 * domU's /dev/xen/xenbus); this client speaks to sockets only.
 */
export function xenstoredSocketPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const path = env.XENSTORED_PATH;
  if (path !== undefined && path !== '') return path;
  const rundir = env.XENSTORED_RUNDIR;
  return `${rundir !== undefined && rundir !== '' ? rundir : DEFAULT_XENSTORED_RUNDIR}/socket`;
}
