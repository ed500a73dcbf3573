/**
 * JSON as libxl prints it (yajl's beautifier, 4-space indent): like JSON.stringify(v, null, 4)
 * except that an empty object or array spans lines with an empty line inside ("{\n\n}").
 */
export function yajlStringify(value: unknown, indent = ''): string {
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return `[\n\n${indent}]`;
    return `[\n${value.map((v) => inner + yajlStringify(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return `{\n\n${indent}}`;
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${yajlStringify(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
