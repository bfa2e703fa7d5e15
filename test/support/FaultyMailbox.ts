/** Wraps the Mailbox service to make chosen operations fail, as a flaky or hostile server would. */
import { Effect, Layer } from "effect"
import { ImapConnectError, MailboxError, MoveIncomplete } from "../../src/domain/Errors.ts"
import { Mailbox } from "../../src/services/Mailbox.ts"

export interface Faults {
  /** A FETCH that includes one of these UIDs fails. */
  readonly fetchUids?: ReadonlyArray<number>
  /** Moves to these folders fail. */
  readonly moveTargets?: ReadonlyArray<string>
  /** Moves to these folders lose the connection (the command's outcome is unknown). */
  readonly disconnectTargets?: ReadonlyArray<string>
  /** Moves to these folders copy, then lose the connection before the originals are removed. */
  readonly copyThenDisconnectTargets?: ReadonlyArray<string>
  /** Moves to these folders copy but cannot remove the originals (COPY + EXPUNGE half done). */
  readonly incompleteMoveTargets?: ReadonlyArray<string>
  /** Runs before every move is sent (to hold it, say, while the test does something). */
  readonly beforeMove?: Effect.Effect<void>
  /** Runs before every FETCH is sent. */
  readonly beforeFetch?: Effect.Effect<void>
  /** Looking for messages by Message-ID in these folders fails. */
  readonly findIn?: ReadonlyArray<string>
  /** Searching for UIDs in these folders fails. */
  readonly searchIn?: ReadonlyArray<string>
  /** LIST fails from its n-th call on (1: the first). */
  readonly listFailsFrom?: number
}

export const withFaults = (faults: Faults) =>
  Layer.effect(
    Mailbox,
    Effect.gen(function*() {
      const inner = yield* Mailbox
      let lists = 0
      return Mailbox.of({
        ...inner,
        listFolders: Effect.suspend(() =>
          ++lists >= (faults.listFailsFrom ?? Infinity)
            ? Effect.fail(new MailboxError({ operation: "LIST", folder: "*", reason: "injected list failure" }))
            : inner.listFolders
        ),
        fetch: (folder, uids, maxBytes) =>
          uids.some((uid) => faults.fetchUids?.includes(uid) === true)
            ? Effect.fail(new MailboxError({ operation: "FETCH", folder: folder.path, reason: "injected fetch failure" }))
            : Effect.andThen(faults.beforeFetch ?? Effect.void, inner.fetch(folder, uids, maxBytes)),
        searchUids: (folder, search) =>
          faults.searchIn?.includes(folder.path) === true
            ? Effect.fail(new MailboxError({ operation: "SEARCH", folder: folder.path, reason: "injected search failure" }))
            : inner.searchUids(folder, search),
        findMessages: (folder, keys) =>
          faults.findIn?.includes(folder.path) === true
            ? Effect.fail(new MailboxError({ operation: "SEARCH", folder: folder.path, reason: "injected search failure" }))
            : inner.findMessages(folder, keys),
        move: (folder, uids, target) => {
          if (faults.moveTargets?.includes(target) === true) {
            return Effect.fail(new MailboxError({ operation: "MOVE", folder: folder.path, reason: "injected move failure" }))
          }
          if (faults.disconnectTargets?.includes(target) === true) {
            return Effect.fail(new ImapConnectError({ host: "127.0.0.1", port: 1143, reason: "connection lost" }))
          }
          if (faults.copyThenDisconnectTargets?.includes(target) === true) {
            return Effect.andThen(
              Effect.andThen(inner.ensureFolder(target), inner.copy(folder, uids, target)),
              Effect.fail(new ImapConnectError({ host: "127.0.0.1", port: 1143, reason: "connection lost" }))
            )
          }
          if (faults.incompleteMoveTargets?.includes(target) === true) {
            return Effect.fail(new MoveIncomplete({ folder: folder.path, target, reason: "injected EXPUNGE failure" }))
          }
          return Effect.andThen(faults.beforeMove ?? Effect.void, inner.move(folder, uids, target))
        }
      })
    })
  )

/** The first `times` connections (LIST) are refused, as by a server that is down; then it answers. */
export const refusingConnections = (times: number) => {
  let down = times
  return Layer.effect(
    Mailbox,
    Effect.map(Effect.service(Mailbox), (inner) =>
      Mailbox.of({
        ...inner,
        listFolders: Effect.suspend(() =>
          down-- > 0
            ? Effect.fail(new ImapConnectError({ host: "127.0.0.1", port: 1143, reason: "connection refused" }))
            : inner.listFolders
        )
      }))
  )
}
