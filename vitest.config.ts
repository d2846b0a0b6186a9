import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.spec.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own Miniflare (fresh D1 and KV); two at a time fit two cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
