/**
 * The few C library conversions whose exact edge cases decide what xl accepts: strtol/strtoul
 * (leading white space, sign, base prefixes, the end pointer, overflow) and sscanf's %x.
 * Results are BigInt so 64-bit overflow and unsigned wrap-around behave as in glibc on x86_64.
 */

const C_SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);

export function isCSpace(ch: string | undefined): boolean {
  return ch !== undefined && C_SPACE.has(ch);
}

function digitValue(ch: string | undefined): number {
  if (ch === undefined) return 99;
  const c = ch.charCodeAt(0);
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

export interface StrtoResult {
  /** Magnitude with the sign applied (not yet clamped or wrapped). */
  value: bigint;
  /** Index just past the last character used; 0 when no digits were found (C: endptr == str). */
  end: number;
  /** True when at least one digit was consumed. */
  ok: boolean;
}

/** The scanning part shared by strtol and strtoul: base 0 (auto), 8, 10 or 16. */
export function scanInteger(s: string, base: number): StrtoResult {
  let i = 0;
  while (isCSpace(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  let b = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X')) {
    if (digitValue(s[i + 2]) < 16) {
      i += 2;
      b = 16;
    } else {
      // "0x" with no hex digit after it: glibc parses the "0" and stops at the "x".
      return { value: 0n, end: i + 1, ok: true };
    }
  }
  if (b === 0) b = s[i] === '0' ? 8 : 10;
  const start = i;
  let v = 0n;
  while (digitValue(s[i]) < b) {
    v = v * BigInt(b) + BigInt(digitValue(s[i]));
    i++;
  }
  if (i === start) return { value: 0n, end: 0, ok: false };
  return { value: neg ? -v : v, end: i, ok: true };
}

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);
const ULONG_MAX = (1n << 64n) - 1n;

/** strtol: value clamped to long, with ERANGE reported as `range`. */
export function strtol(s: string, base: number): StrtoResult & { range: boolean } {
  const r = scanInteger(s, base);
  if (r.value > LONG_MAX) return { ...r, value: LONG_MAX, range: true };
  if (r.value < LONG_MIN) return { ...r, value: LONG_MIN, range: true };
  return { ...r, range: false };
}

/** strtoul: magnitude above ULONG_MAX gives ULONG_MAX; a minus sign negates modulo 2^64. */
export function strtoul(s: string, base: number): StrtoResult & { range: boolean } {
  const r = scanInteger(s, base);
  const mag = r.value < 0n ? -r.value : r.value;
  if (mag > ULONG_MAX) return { ...r, value: ULONG_MAX, range: true };
  return { ...r, value: BigInt.asUintN(64, r.value), range: false };
}

export const C_ULONG_MAX = ULONG_MAX;

/** sscanf "%x" into an unsigned int: returns the value and the characters consumed, or null. */
export function scanHexUint(s: string, from: number): { value: number; next: number } | null {
  const r = strtoul(s.slice(from), 16);
  if (!r.ok) return null;
  return { value: Number(BigInt.asUintN(32, r.value)), next: from + r.end };
}

/** atoi as glibc implements it: (int) strtol(s, NULL, 10). */
export function atoi(s: string): number {
  return Number(BigInt.asIntN(32, strtol(s, 10).value));
}
