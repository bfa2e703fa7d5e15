/** Every source folder watched: the plan within the connections, the watchers, and the service over them. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Queue, References } from "effect"
import { ImapConnectError } from "../../src/domain/Errors.ts"
import { watcherConnections, watchPlan } from "../../src/domain/WatchPlan.ts"
import { runService } from "../../src/pipeline/service.ts"
import { Mailbox, type MailboxApi } from "../../src/services/Mailbox.ts"
import { MailWatch } from "../../src/services/MailWatch.ts"
import { MemoryMailbox } from "../../src/services/MemoryMailbox.ts"
import { bankEmail, workEmail } from "../support/emails.ts"
import { testLayer } from "../support/layers.ts"
import { captureWarnings } from "../support/logs.ts"

describe("the watch plan", () => {
  it("one folder or one connection: no watcher; the first folder is always the sorting connection's", () => {
    assert.deepStrictEqual(watchPlan(["INBOX"], 4), { idle: [], polled: [] })
    assert.deepStrictEqual(watchPlan(["INBOX", "Lists", "News"], 1), { idle: [], polled: [] })
  })

  it("a connection each while there are enough, then STATUS polling of the rest on the last one", () => {
    assert.deepStrictEqual(watchPlan(["INBOX", "Lists", "News"], 4), { idle: ["Lists", "News"], polled: [] })
    assert.deepStrictEqual(watchPlan(["INBOX", "A", "B", "C"], 4), { idle: ["A", "B", "C"], polled: [] })
    assert.deepStrictEqual(watchPlan(["INBOX", "A", "B", "C", "D", "E"], 4), { idle: ["A", "B"], polled: ["C", "D", "E"] })
    assert.deepStrictEqual(watchPlan(["INBOX", "Lists", "News"], 2), { idle: [], polled: ["Lists", "News"] })
  })

  it("never more connections than allowed, and every folder watched when there are at least two", () => {
    for (let folders = 1; folders <= 8; folders++) {
      const names = Array.from({ length: folders }, (_, n) => `F${n}`)
      for (let max = 1; max <= 6; max++) {
        const plan = watchPlan(names, max)
        assert.isAtMost(1 + watcherConnections(plan), max)
        const watched = [...plan.idle, ...plan.polled]
        assert.deepStrictEqual(watched, max >= 2 ? names.slice(1) : [])
      }
    }
  })
})

/** What the watchers said within `wait`, in order. */
const said = (signals: Queue.Dequeue<string>, wait: Duration.Input) => Effect.andThen(Effect.sleep(wait), Queue.clear(signals))


/** Watchers on the in-memory mailbox, each "connection" made by `connect` from it. */
const watchersOver = (connect: (mailbox: MailboxApi) => Effect.Effect<MailboxApi, ImapConnectError>) =>
  Layer.unwrap(Effect.map(Effect.service(Mailbox), (mailbox) => MailWatch.layer(Effect.suspend(() => connect(mailbox)))))

const refused = new ImapConnectError({ host: "127.0.0.1", port: 1143, reason: "connection refused" })

describe("the watchers", () => {
  it.live("say each folder once when they start, then whenever mail comes (IDLE or STATUS), never when mail leaves", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryMailbox
      const mailbox = yield* Mailbox
      yield* memory.append("Lists", bankEmail(1))
      yield* memory.append("News", bankEmail(2))
      const signals = yield* (yield* MailWatch).watch({ idle: ["Lists"], polled: ["News"] })
      assert.deepStrictEqual([...(yield* said(signals, "200 millis"))].sort(), ["Lists", "News"])
      yield* memory.append("Lists", bankEmail(3))
      assert.deepStrictEqual(yield* said(signals, "100 millis"), ["Lists"])
      yield* memory.append("News", bankEmail(4))
      assert.deepStrictEqual(yield* said(signals, "1200 millis"), ["News"])
      // Mail moved out (as the sorter does) is no new mail.
      yield* mailbox.ensureFolder("Folders/Banque")
      const lists = yield* mailbox.openFolder("Lists")
      yield* mailbox.move(lists, [1, 3], "Folders/Banque")
      assert.deepStrictEqual(yield* said(signals, "1200 millis"), [])
      // Watchers are read-only: they never select a folder for writing, never move anything.
      const commands = yield* memory.commands
      assert.isTrue(commands.filter((command) => command.folder === "News").every((command) => command.command === "STATUS"))
    }).pipe(Effect.scoped, Effect.provide(MailWatch.layerShared.pipe(Layer.provideMerge(MemoryMailbox.layer())))))

  it.live("a polled folder that does not exist is said once; the others are still watched, and it is once it exists", () => {
    const warnings = captureWarnings()
    return Effect.gen(function*() {
      const memory = yield* MemoryMailbox
      yield* memory.append("News", bankEmail(1))
      const signals = yield* (yield* MailWatch).watch({ idle: [], polled: ["Gone", "News"] })
      assert.deepStrictEqual(yield* said(signals, "100 millis"), ["News"])
      yield* memory.append("News", bankEmail(2))
      assert.deepStrictEqual(yield* said(signals, "1200 millis"), ["News"])
      yield* memory.append("Gone", bankEmail(3))
      assert.deepStrictEqual(yield* said(signals, "1200 millis"), ["Gone"])
      assert.strictEqual(warnings.lines.length, 1)
      assert.match(warnings.lines[0] ?? "", /^watching Gone: folder "Gone" does not exist on the server; looking again every second$/)
    }).pipe(
      Effect.scoped,
      Effect.provide(MailWatch.layerShared.pipe(Layer.provideMerge(MemoryMailbox.layer()))),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
      Effect.provide(warnings.layer)
    )
  }, 10_000)

  it.live("a watcher that cannot connect says why, backs off, and watches once it can", () => {
    const warnings = captureWarnings()
    let attempts = 0
    const flaky = watchersOver((mailbox) => (++attempts <= 1 ? Effect.fail(refused) : Effect.succeed(mailbox)))
    return Effect.gen(function*() {
      yield* (yield* MemoryMailbox).append("Lists", bankEmail(1))
      const signals = yield* (yield* MailWatch).watch({ idle: ["Lists"], polled: [] })
      assert.deepStrictEqual(yield* said(signals, "1 second"), [])
      assert.deepStrictEqual(yield* said(signals, "1500 millis"), ["Lists"])
      assert.strictEqual(warnings.lines.length, 1)
      assert.match(warnings.lines[0] ?? "", /^watching Lists \(IDLE\): .*connection refused; attempt 1 failed, next in 2s$/)
    }).pipe(
      Effect.scoped,
      Effect.provide(flaky.pipe(Layer.provideMerge(MemoryMailbox.layer()))),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
      Effect.provide(warnings.layer)
    )
  }, 10_000)

  it.live("a watcher that loses its connection connects again and says what came meanwhile", () => {
    const warnings = captureWarnings()
    let sessions = 0
    // The first connection drops while it waits, just after new mail came.
    const dropping = watchersOver((mailbox) =>
      Effect.sync(() => {
        sessions += 1
        if (sessions > 1) return mailbox
        return Mailbox.of({
          ...mailbox,
          waitForMail: () => Effect.andThen(Effect.sleep("50 millis"), Effect.fail(new ImapConnectError({ host: "127.0.0.1", port: 1143, reason: "connection closed" })))
        })
      })
    )
    return Effect.gen(function*() {
      const memory = yield* MemoryMailbox
      yield* memory.append("Lists", bankEmail(1))
      const signals = yield* (yield* MailWatch).watch({ idle: ["Lists"], polled: [] })
      assert.deepStrictEqual(yield* said(signals, "20 millis"), ["Lists"])
      yield* memory.append("Lists", bankEmail(2))
      assert.deepStrictEqual(yield* said(signals, "1500 millis"), ["Lists"])
      assert.strictEqual(sessions, 2)
      assert.strictEqual(warnings.lines.length, 1)
      assert.match(warnings.lines[0] ?? "", /^watching Lists \(IDLE\): .*connection closed; connecting again$/)
    }).pipe(
      Effect.scoped,
      Effect.provide(dropping.pipe(Layer.provideMerge(MemoryMailbox.layer()))),
      Effect.provideService(References.MinimumLogLevel, "Warn"),
      Effect.provide(warnings.layer)
    )
  }, 10_000)
})

const contents = (folder: string) => MemoryMailbox.use((mailbox) => mailbox.messages(folder))

/** Waits until `folder` holds `count` messages; fails after `millis`. */
const holds = (folder: string, count: number, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while ((yield* contents(folder)).length !== count) {
      if (Date.now() > deadline) return assert.fail(`${folder} does not hold ${count} messages after ${millis} ms`)
      yield* Effect.sleep("20 millis")
    }
  })

describe("the service, watching every folder", () => {
  // IDLE: at once; STATUS polling: within a second or so.
  for (const [maxConnections, millis] of [[4, 300], [2, 1500]] as const) {
    it.live(`sorts new mail in the last of three folders at once (PROTON_LUMO_MAX_CONNECTIONS=${maxConnections})`, () =>
      Effect.gen(function*() {
        const memory = yield* MemoryMailbox
        yield* memory.append("Lists", workEmail(1))
        yield* memory.append("News", workEmail(2))
        const service = yield* Effect.forkChild(runService)
        yield* holds("Folders/Travail", 2, 5000)
        // The watchers' first looks, and the sorts they ask for, are over.
        yield* Effect.sleep("200 millis")
        yield* memory.append("News", bankEmail(3))
        yield* holds("Folders/Administratif/Banque", 1, millis)
        assert.strictEqual((yield* contents("News")).length, 0)
        yield* Fiber.interrupt(service)
      }).pipe(Effect.provide(testLayer({
        settings: { folders: ["INBOX", "Lists", "News"], pollInterval: Duration.hours(1), maxConnections },
        watch: MailWatch.layerShared
      }))))
  }

  it.live("goes on sorting (the first folder on IDLE) while a watcher cannot connect", () =>
    Effect.gen(function*() {
      const service = yield* Effect.forkChild(runService)
      yield* Effect.sleep("300 millis")
      yield* (yield* MemoryMailbox).append("INBOX", bankEmail(1))
      yield* holds("Folders/Administratif/Banque", 1, 500)
      yield* Fiber.interrupt(service)
    }).pipe(Effect.provide(testLayer({
      settings: { folders: ["INBOX", "Lists"], pollInterval: Duration.hours(1) },
      watch: watchersOver(() => Effect.fail(refused))
    }))))
})
