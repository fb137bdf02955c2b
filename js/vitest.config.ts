import { defineConfig } from "vitest/config";

// The core is DOM-free, so the node environment is enough (and fast).
export default defineConfig({
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});
