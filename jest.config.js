/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
  },
  moduleNameMapper: { '^ebpf$': '<rootDir>/lib/index.ts' },
  // Tests share one kernel: run files one at a time so fd counts and events stay exact.
  maxWorkers: 1,
  testTimeout: 60000,
};
