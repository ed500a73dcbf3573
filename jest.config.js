// Jest runs the TypeScript sources as native ES modules (node --experimental-vm-modules),
// transformed by SWC (type-stripping only; `npm run typecheck` is the type checker).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  // Sources import siblings as './x.js' (NodeNext resolution); jest must find './x.ts'.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // test/xen boots Xen under QEMU for minutes: its own command, npm run test:xen
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/xen/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testTimeout: 30000,
};
