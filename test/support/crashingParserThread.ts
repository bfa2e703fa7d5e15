/** A parser thread that dies (exit code 3) on a message containing "CRASH NOW": the real one otherwise. */
import { parentPort, workerData } from "node:worker_threads"
// Importing the real thread starts it (workerData marks this as a parser thread).
import { PARSER_THREAD, type ReadJob } from "../../src/mime/parserThread.ts"

if (workerData === PARSER_THREAD) {
  parentPort?.on("message", (job: ReadJob) => {
    if (job.messages.some((message) => Buffer.from(message.source).includes("CRASH NOW"))) process.exit(3)
  })
}
