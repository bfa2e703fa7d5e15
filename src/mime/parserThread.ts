/**
 * A parser thread (see MessageParser.layerThreads): reads each chunk of messages it is sent and
 * answers one ReadResult per message, in order, tagged with the chunk's id. It loads only the
 * MIME code, not Effect, so that it starts in a few milliseconds.
 */
import { parentPort, workerData } from "node:worker_threads"
import type { FetchedMessage } from "../domain/Email.ts"
import { readMessage } from "./readMessage.ts"

/** Marks the threads started for this purpose, so that importing this file elsewhere does nothing. */
export const PARSER_THREAD = "proton-lumo-ai/parser-thread"

export interface ReadJob {
  readonly id: number
  readonly messages: ReadonlyArray<Pick<FetchedMessage, "uid" | "source">>
}

const port = parentPort
if (port !== null && workerData === PARSER_THREAD) {
  port.on("message", (job: ReadJob) => {
    void Promise.all(job.messages.map(readMessage)).then((results) => port.postMessage({ id: job.id, results }))
  })
  port.postMessage({ ready: true })
}
