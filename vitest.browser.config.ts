import { defineConfig } from "vitest/config"

// The dashboard's tests in a real (headless) Chromium: `npx vitest run --config vitest.browser.config.ts`.
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000
  }
})
