// The real-Xen end-to-end test (test/xen/): boots Xen + dom0 under QEMU, takes minutes, so it
// has its own command (`npm run test:xen`) and is left out of the default jest run.
import base from './jest.config.js';

export default {
  ...base,
  testMatch: ['<rootDir>/test/xen/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 600_000,
  // The suite owns a QEMU process group and a NATS connection and closes both in afterAll, yet
  // jest reported an open handle after some runs that --detectOpenHandles did not name; CI must
  // not hang on that.
  forceExit: true,
  // Skips are loud: a run that could not boot, or whose service did not come up, ends with a
  // banner saying what was skipped and why (the test writes the reason to this file).
  reporters: [
    'default',
    ['<rootDir>/test/xen/skip-reporter.mjs', { reasonFile: 'test/xen/artifacts/skip-reason.txt' }],
  ],
};
