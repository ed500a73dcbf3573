/**
 * A config that uses something real xl 4.17 reads but this reimplementation does not model.
 * The simulator must not guess what xl would make of it, so parsing stops with this error
 * instead (reported as exit 1 with a message that names the key and says it is the simulator's
 * limit, never xl's wording).
 */
export class XlCfgUnsupported extends Error {
  constructor(readonly what: string) {
    super(`not supported by the simulated xl: ${what}`);
  }
}
