/**
 * xl.cfg as Xen 4.17's `xl create` reads it, for the simulated host: the public entry of
 * sim/xlcfg. `parseXlCfg` gives either the libxl domain configuration that real `xl -N create`
 * prints, plus the stderr lines xl prints while accepting the file, or exactly the exit code and
 * stderr of xl's refusal. Checked against the real binary by test/xlcfg/real-xl-comparison.test.ts.
 *
 * stderr contract: real `xl create FILE` first prints "Parsing config from FILE"; that line is NOT
 * part of `warnings` or `stderr` here, because it is xl's create command talking, not the parser:
 * the simulator prints it itself before calling this. Everything xl prints after it is included,
 * byte for byte.
 */
import { buildDomainConfig } from './build-config.js';
import { CfgStore, XlExit } from './cfg-store.js';
import { parseCfgSyntax } from './cfg-syntax.js';
import type {
  LibxlDisk,
  LibxlDomainConfig,
  LibxlDomainType,
  LibxlNic,
  LibxlPci,
  LibxlShutdownAction,
} from './types.js';
import { XlCfgUnsupported } from './unsupported.js';

export { SIMULATED_HOST_CPUS } from './build-config.js';
export type { LibxlDisk, LibxlDomainConfig, LibxlDomainType, LibxlNic, LibxlPci, LibxlShutdownAction };

export type XlCfgResult =
  /**
   * warnings: what xl printed on stderr while accepting the config, split into lines (no
   * newline characters at the ends; a message with an embedded newline spans two entries).
   */
  | { ok: true; config: LibxlDomainConfig; warnings: string[] }
  /** Exactly real xl's exit code and stderr text (after "Parsing config from ..."). */
  | { ok: false; exitCode: number; stderr: string };

/**
 * Parses `text` as xl would parse the file `fileName` (the name appears in messages exactly as
 * given). `extraLines` are the `key=value` arguments of `xl create FILE key=value ...`: xl appends
 * them as lines after the file, so they keep cfg syntax and the last setting of a key wins. The
 * caller does xl's option parsing: an argument starting with '-' is an option, never a line here.
 *
 * Configs that use keys real xl reads but this module does not model fail with exit code 1 and a
 * message starting "xl (simulated):"; real xl never prints that, so it cannot be mistaken for
 * xl's own answer.
 */
export function parseXlCfg(text: string, fileName: string, extraLines: readonly string[] = []): XlCfgResult {
  // xl joins the arguments as "a1\na2\n" and appends sprintf("\n%s\n", that) to the file.
  const data = extraLines.length > 0 ? `${text}\n${extraLines.map((l) => `${l}\n`).join('')}\n` : text;
  const report: string[] = [];
  try {
    const syntax = parseCfgSyntax(data, fileName);
    for (const m of syntax.messages) report.push(`${m}\n`);
    if (syntax.err) {
      report.push('Failed to parse config: Invalid argument\n');
      throw new XlExit(1);
    }
    const config = buildDomainConfig(new CfgStore(syntax.settings, fileName, report));
    const stderr = report.join('');
    const warnings = stderr === '' ? [] : stderr.replace(/\n$/, '').split('\n');
    return { ok: true, config, warnings };
  } catch (e) {
    if (e instanceof XlExit) return { ok: false, exitCode: e.code, stderr: report.join('') };
    if (e instanceof XlCfgUnsupported) {
      report.push(`xl (simulated): ${e.what} is not supported by this simulator (real xl 4.17 reads it)\n`);
      return { ok: false, exitCode: 1, stderr: report.join('') };
    }
    throw e;
  }
}

/** What the simulator needs to know about a domain, read back from its libxl config. */
export interface DomainSummary {
  name: string;
  /**
   * The cfg's uuid, or the random one generated in its absence (as xl does); undefined only for
   * the nil uuid, which libxl leaves out.
   */
  uuid: string | undefined;
  type: LibxlDomainType;
  memoryMiB: number;
  maxMemoryMiB: number;
  vcpus: number;
  maxVcpus: number;
  onPoweroff: LibxlShutdownAction;
  onReboot: LibxlShutdownAction;
  onCrash: LibxlShutdownAction;
  disks: LibxlDisk[];
  nics: LibxlNic[];
  pcidevs: LibxlPci[];
}

/**
 * Reads libxl's conventions back: defaults that the JSON leaves out are filled in (destroy /
 * restart / destroy actions; without a vcpus setting libxl brings up max_vcpus vcpus, at least
 * one), KiB become MiB. A config without memory means libxl's default; the simulator gets 0 and
 * must apply its own default. NICs without mac= have none here: libxl picks a random 00:16:3e
 * address only when it really creates the domain.
 */
export function summarizeDomainConfig(config: LibxlDomainConfig): DomainSummary {
  const b = config.b_info;
  const vcpus = b.avail_vcpus?.length ?? b.max_vcpus ?? 1;
  return {
    name: config.c_info.name,
    uuid: config.c_info.uuid,
    type: config.c_info.type,
    memoryMiB: Math.floor((b.target_memkb ?? 0) / 1024),
    maxMemoryMiB: Math.floor((b.max_memkb ?? b.target_memkb ?? 0) / 1024),
    vcpus,
    maxVcpus: b.max_vcpus ?? vcpus,
    onPoweroff: config.on_poweroff ?? 'destroy',
    onReboot: config.on_reboot ?? 'destroy',
    onCrash: config.on_crash ?? 'destroy',
    disks: config.disks ?? [],
    nics: config.nics ?? [],
    pcidevs: config.pcidevs ?? [],
  };
}
