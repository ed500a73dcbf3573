/**
 * Parses the `http.listen` setting: `host:port`, with an IPv6 host in brackets (`[::1]:9108`).
 * Port 0 asks the system for a free port (tests). The empty string means "disabled" and is the
 * caller's to check; here it is an error like any other malformed value.
 */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):([0-9]{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new Error(`http.listen: expected host:port (IPv6 as [addr]:port), got ${JSON.stringify(listen)}`);
  }
  return { host: (m[1] ?? m[2]) as string, port };
}
