import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { peakRssBytes } from "../../src/pipeline/report.ts"

const run = promisify(execFile)
const MB = 2 ** 20

describe("peakRssBytes", () => {
  it("is at least the memory resident now", () => {
    // The resident size first: read after it, the peak can only be as large (read before, the
    // process may have grown a page in between).
    const resident = process.memoryUsage.rss()
    assert.isAtLeast(peakRssBytes(), resident)
  })

  it("is the process's own peak, not the memory of the process that started it", async () => {
    // Make this process large, then start a small one from it: getrusage's maxRSS would report
    // the parent's size for the child.
    const ballast = Buffer.alloc(400 * MB, 1)
    const script = "import { peakRssBytes } from './src/pipeline/report.ts'; " +
      "console.log(peakRssBytes(), process.resourceUsage().maxRSS * 1024)"
    const { stdout } = await run(process.execPath, ["--input-type=module", "--no-warnings", "-e", script])
    const [peak, inheritedMaxRss] = stdout.trim().split(" ").map(Number)
    assert.isAbove(ballast.length, 0)
    if (process.platform === "linux") {
      assert.isAbove(inheritedMaxRss ?? 0, 400 * MB)
      assert.isBelow(peak ?? Infinity, 200 * MB)
    }
    assert.isAbove(peak ?? 0, 10 * MB)
  })
})
