// A jest reporter for `npm run test:xen`: when the run skipped tests (the harness could not boot,
// or domainmgr in dom0 did not come up) or a suite could not run, it says so after jest's own
// summary, in a banner that cannot be mistaken for a pass, with the reason the test recorded.
import { readFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';

export default class SkipReporter {
  #reasonFile;

  /** options.reasonFile: where the test writes why it skipped, relative to the root dir. */
  constructor(globalConfig, options = {}) {
    this.#reasonFile = options.reasonFile ? resolve(globalConfig.rootDir, options.reasonFile) : undefined;
  }

  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const broken = results.numRuntimeErrorTestSuites;
    if (skipped === 0 && broken === 0) return;
    let reason = '';
    try {
      reason = this.#reasonFile ? readFileSync(this.#reasonFile, 'utf8').trim() : '';
    } catch {
      reason = '';
    }
    const bar = '#'.repeat(78);
    const head =
      skipped > 0
        ? [
            `# REAL XEN: ${skipped} of ${results.numTotalTests} tests SKIPPED`,
            '# This run says nothing about real Xen for what was skipped.',
          ]
        : [`# REAL XEN: FAILED, ${broken} suite(s) could not run (see the error above)`];
    const lines = [
      '',
      bar,
      ...head,
      ...(reason === ''
        ? []
        : reason
            .split('\n')
            .slice(0, 12)
            .map((l) => `#   ${l}`)),
      ...(skipped > 0
        ? ['# XEN_REQUIRE_SERVICE=1 (as scripts/test.sh sets it) turns this into a failure.']
        : []),
      bar,
      '',
    ];
    // After jest's own summary, which its reporters print after this one: at exit.
    process.once('exit', () => writeSync(2, lines.join('\n')));
  }
}
