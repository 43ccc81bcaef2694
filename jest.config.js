// Unit tests of the panel's TypeScript (src/__tests__): pure helpers, the request helper
// against a real local HTTP server, and components rendered into jsdom.
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts?(x)'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
