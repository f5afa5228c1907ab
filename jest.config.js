/** Tests are TypeScript, transpiled by ts-jest without type-checking (`npm run typecheck` does that once). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/streams', '<rootDir>/config', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testTimeout: 120000,
  // tfjs-wasm and ffmpeg are heavy: one worker keeps a 2-core CI machine from thrashing.
  maxWorkers: 1,
  // headless EGL for the webgpu tests (Mesa's llvmpipe); a test file's process.env never reaches the C environment
  globalSetup: '<rootDir>/test/helpers/jestGlobalSetup.ts',
};
