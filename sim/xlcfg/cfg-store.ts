import { strtol } from './c-strings.js';
import type { CfgSetting, CfgValue } from './cfg-syntax.js';

/** errno values the libxlutil getters return. */
export const ESRCH = 3;
export const EINVAL = 22;
export const ERANGE = 34;

/** xl ended the run: exit code plus everything it had written to stderr by then. */
export class XlExit extends Error {
  constructor(readonly code: number) {
    super(`xl exit ${code}`);
  }
}

/**
 * The parsed settings with libxlutil's typed getters (xlu_cfg_get_string, _long, _list ...).
 * Each getter prints the same warning xl prints when a key has the wrong shape into `report`
 * (raw stderr chunks, newline included).
 */
export class CfgStore {
  constructor(
    private readonly settings: readonly CfgSetting[],
    readonly source: string,
    readonly report: string[],
  ) {}

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  find(name: string): CfgSetting | undefined {
    for (let i = this.settings.length - 1; i >= 0; i--) {
      const s = this.settings[i];
      if (s?.name === name) return s;
    }
    return undefined;
  }

  private atom(name: string, dontWarn: boolean): { e: number; set?: CfgSetting; text?: string } {
    const set = this.find(name);
    if (!set) return { e: ESRCH };
    if (set.value.kind !== 'string') {
      if (!dontWarn)
        this.report.push(
          `${this.source}:${set.line}: warning: parameter \`${name}' is a list but should be a single value\n`,
        );
      return { e: EINVAL };
    }
    return { e: 0, set, text: set.value.value };
  }

  /** xlu_cfg_get_string / xlu_cfg_replace_string: the value, or undefined (after any warning). */
  getString(name: string, dontWarn = false): string | undefined {
    return this.atom(name, dontWarn).text;
  }

  /** xlu_cfg_get_bounded_long with LONG bounds: returns errno and the value. */
  getLong(name: string, dontWarn = false): { e: number; value: bigint } {
    const a = this.atom(name, dontWarn);
    if (a.e || !a.set || a.text === undefined) return { e: a.e, value: 0n };
    const { set, text } = a;
    if (set.append) {
      if (!dontWarn)
        this.report.push(
          `${this.source}:${set.line}: warning: can't use += with numbers for parameter \`${name}'\n`,
        );
      return { e: EINVAL, value: 0n };
    }
    const r = strtol(text, 0);
    if (r.range) {
      if (!dontWarn)
        this.report.push(
          `${this.source}:${set.line}: warning: parameter \`${name}' could not be parsed as a number: Numerical result out of range\n`,
        );
      return { e: ERANGE, value: 0n };
    }
    if (!r.ok || r.end !== text.length) {
      if (!dontWarn)
        this.report.push(`${this.source}:${set.line}: warning: parameter \`${name}' is not a valid number\n`);
      return { e: EINVAL, value: 0n };
    }
    return { e: 0, value: r.value };
  }

  /** xlu_cfg_get_defbool: true/false when the key is a valid number, else undefined. */
  getDefbool(name: string, dontWarn = false): boolean | undefined {
    const r = this.getLong(name, dontWarn);
    return r.e ? undefined : r.value !== 0n;
  }

  /** xlu_cfg_get_list: the items, or an errno (ESRCH absent, EINVAL not a list). */
  getList(name: string, dontWarn = false): { e: number; items: readonly CfgValue[] } {
    const set = this.find(name);
    if (!set) return { e: ESRCH, items: [] };
    if (set.value.kind !== 'list') {
      if (!dontWarn)
        this.report.push(
          `${this.source}:${set.line}: warning: parameter \`${name}' is a single value but should be a list\n`,
        );
      return { e: EINVAL, items: [] };
    }
    return { e: 0, items: set.value.items };
  }
}

/**
 * xlu_cfg_get_listitem iteration as xl's loops use it: string items up to the first item that is
 * not a string (a nested list ends the walk).
 */
export function stringItems(items: readonly CfgValue[]): string[] {
  const out: string[] = [];
  for (const item of items) {
    if (item.kind !== 'string') break;
    out.push(item.value);
  }
  return out;
}
