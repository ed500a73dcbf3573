/** A tool printed something a parser cannot read; names the tool, the line and its text. */
export class ToolOutputParseError extends Error {
  readonly tool: string;
  /** 1-based line number in the tool's stdout; null when the output as a whole is wrong. */
  readonly line: number | null;
  readonly text: string;

  constructor(tool: string, line: number | null, text: string, why: string) {
    const where = line === null ? '' : ` line ${line}`;
    super(`cannot parse ${tool} output${where}: ${why}: ${JSON.stringify(text.slice(0, 200))}`);
    this.name = 'ToolOutputParseError';
    this.tool = tool;
    this.line = line;
    this.text = text;
  }
}
