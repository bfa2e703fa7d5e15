import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // Some start the CLI as a real process, several times: a busy machine is not a failure.
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Starts private Dovecot instances on 127.0.0.1 for the whole run, and stops them after.
          globalSetup: ["test/integration/globalSetup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      }
    ]
  }
})
