import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Shared Kafka clusters dc-east and dc-west, started on first use (see test/kafka/shared.ts).
    globalSetup: ['test/kafka/global-setup.ts'],
  },
});
