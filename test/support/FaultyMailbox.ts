/** Wraps the Mailbox service to make chosen operations fail, as a flaky or hostile server would. */
import { Effect, Layer } from "effect"
import { MailboxError } from "../../src/domain/Errors.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"

export interface Faults {
  /** A FETCH that includes one of these UIDs fails. */
  readonly fetchUids?: ReadonlyArray<number>
  /** Moves to these folders fail. */
  readonly moveTargets?: ReadonlyArray<string>
}

export const withFaults = (faults: Faults) =>
  Layer.effect(
    Mailbox,
    Effect.gen(function*() {
      const inner = yield* Mailbox
      return Mailbox.of({
        ...inner,
        fetch: (folder, uids, maxBytes) =>
          uids.some((uid) => faults.fetchUids?.includes(uid) === true)
            ? Effect.fail(new MailboxError({ operation: "FETCH", folder: folder.path, reason: "injected fetch failure" }))
            : inner.fetch(folder, uids, maxBytes),
        move: (folder, uids, target) =>
          faults.moveTargets?.includes(target) === true
            ? Effect.fail(new MailboxError({ operation: "MOVE", folder: folder.path, reason: "injected move failure" }))
            : inner.move(folder, uids, target)
      })
    })
  )
