import { strtoul } from './c-strings.js';
import { XlExit } from './cfg-store.js';
import { XlCfgUnsupported } from './unsupported.js';

/** One entry of libxl's `nics` array as xl -N prints it (fields at their default left out). */
export interface LibxlNic {
  devid: number;
  mtu?: number;
  model?: string;
  mac?: string;
  ip?: string;
  bridge?: string;
  ifname?: string;
  script?: string;
  nictype?: 'vif' | 'vif_ioemu';
  gatewaydev?: string;
  backend_domname?: string;
}

/** parse_ulong in xl_parse.c: base 10, failure ends xl with exit 1. */
function parseUlong(str: string, report: string[]): number {
  const r = strtoul(str, 10);
  if (!r.ok || r.value === (1n << 64n) - 1n) {
    report.push(`xl: failed to convert "${str}" to number\n`);
    throw new XlExit(1);
  }
  return Number(BigInt.asUintN(32, r.value));
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Parses one `vif = [ '...' ]` entry the way xl does: comma-separated `key=value` tokens (strtok,
 * so empty tokens vanish), leading spaces skipped. Unknown keys and malformed values only print
 * a warning and the guest is still created, which is why a writer must validate first.
 *
 * The MAC parser reads six hex numbers, each time skipping one character after the number. At
 * the end of a short MAC that skip lands past the token's terminator, in the rest of the spec
 * (strtok has only cut the current token), so `mac=00:16,bridge=xenbr0` yields 00:16:0b:...;
 * this is reproduced by reading from the spec with just the current delimiter cut.
 */
export function parseVifSpec(spec: string, devid: number, report: string[]): LibxlNic {
  const nic: LibxlNic = { devid };
  const mac = [0, 0, 0, 0, 0, 0];
  let macSet = false;
  let i = 0;
  while (i < spec.length) {
    while (spec[i] === ',') i++;
    if (i >= spec.length) break;
    let end = spec.indexOf(',', i);
    if (end < 0) end = spec.length;
    let p = i;
    while (spec[p] === ' ') p++;
    const token = spec.slice(p, end);
    // What the C code can read from this token on: the token, its cut delimiter, the rest.
    const memory = `${spec.slice(0, end)}\0${spec.slice(end + 1)}`;
    // MATCH_OPTION("key", ...) is a prefix test for "key=", i.e. the text before the first "=".
    const eq = token.indexOf('=');
    const key = eq < 0 ? undefined : token.slice(0, eq);
    const v = token.slice(eq + 1);
    if (key?.startsWith('colo_')) throw new XlCfgUnsupported(`vif ${key}= (COLO)`);
    switch (key) {
      case 'type':
        if (v === 'vif') nic.nictype = 'vif';
        else if (v === 'ioemu') nic.nictype = 'vif_ioemu';
        else report.push("Invalid parameter `type'.\n");
        break;
      case 'mac': {
        macSet = true;
        let at = p + 4;
        for (let k = 0; k < 6; k++) {
          const from = at < memory.length ? (memory.slice(at).split('\0')[0] ?? '') : '';
          const r = strtoul(from, 16);
          const val = Number(BigInt.asUintN(32, r.value));
          if (!r.ok || val > 255) {
            report.push("Invalid parameter `mac'.\n");
            break;
          }
          mac[k] = val;
          at = at + r.end + 1;
        }
        break;
      }
      case 'bridge':
        nic.bridge = v;
        break;
      case 'netdev':
        report.push('the netdev parameter is deprecated, please use gatewaydev instead\n');
        nic.gatewaydev = v;
        break;
      case 'gatewaydev':
        nic.gatewaydev = v;
        break;
      case 'ip':
        nic.ip = v;
        break;
      case 'script':
        nic.script = v;
        break;
      case 'backend':
        nic.backend_domname = v;
        break;
      case 'vifname':
        nic.ifname = v;
        break;
      case 'model':
        nic.model = v;
        break;
      case 'rate':
        throw new XlCfgUnsupported('vif rate=');
      case 'forwarddev':
        throw new XlCfgUnsupported('vif forwarddev= (COLO)');
      case 'accel':
        report.push('the accel parameter for vifs is currently not supported\n');
        break;
      case 'devid':
        nic.devid = parseUlong(v, report);
        break;
      case 'mtu':
        nic.mtu = parseUlong(v, report);
        break;
      default:
        report.push(`unrecognized argument \`${token}'\n`);
    }
    i = end + 1;
  }
  // libxl prints a MAC only when it is not all zeros.
  if (macSet && mac.some((b) => b !== 0)) nic.mac = mac.map(hex2).join(':');
  const out: LibxlNic = { devid: nic.devid };
  for (const k of [
    'mtu',
    'model',
    'mac',
    'ip',
    'bridge',
    'ifname',
    'script',
    'nictype',
    'gatewaydev',
    'backend_domname',
  ] as const) {
    const val = k === 'mac' ? nic.mac : nic[k];
    if (val !== undefined && val !== 0) (out as unknown as Record<string, unknown>)[k] = val;
  }
  return out;
}
