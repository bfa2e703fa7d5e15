/** The learned classifier's pure parts: text, features, the passive-aggressive model, calibration, and the whole. */
import { describe, expect, it } from "vitest"
import { calibrate, confidence, fitPlatt, predict, uncalibrated } from "../../src/classify/calibration.ts"
import type { MailFields } from "../../src/domain/Email.ts"
import { extractFeatures, type Features, packFeatures, senderKey, unpackFeatures, weigh } from "../../src/classify/features.ts"
import { defaultFolderModelOptions, type Example, FolderModel, STAY } from "../../src/classify/FolderModel.ts"
import { subjectParts, tokenize } from "../../src/classify/text.ts"

/** A seeded generator (mulberry32): the same numbers on every run. */
const random = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const mail = (fields: Partial<MailFields>): MailFields => ({
  fromAddress: "",
  fromName: "",
  to: ["me@example.org"],
  cc: [],
  listId: "",
  listUnsubscribe: false,
  subject: "",
  body: "",
  ...fields
})

/** A small mailbox: three kinds of filed mail and personal mail that stays, each with varied words. */
const kinds = {
  Bank: { from: "alerts@mybank.example", words: ["statement", "balance", "transfer", "account", "card", "payment"] },
  Work: { from: "boss@corp.example", words: ["meeting", "project", "deadline", "report", "agenda", "client"] },
  Travel: { from: "booking@trains.example", words: ["ticket", "journey", "platform", "seat", "departure", "booking"] },
  [STAY]: { from: "friend@home.example", words: ["dinner", "weekend", "photos", "birthday", "movie", "lunch"] }
} as const

const sample = (label: keyof typeof kinds, next: () => number): Features => {
  const kind = kinds[label]
  const pick = () => kind.words[Math.floor(next() * kind.words.length)] ?? ""
  const noise = ["hello", "thanks", "today", "please", "regards"][Math.floor(next() * 5)] ?? ""
  return extractFeatures(mail({ fromAddress: kind.from, subject: `${pick()} ${pick()}`, body: `${pick()} ${noise} ${pick()} ${pick()}` }))
}

const mailbox = (n: number, seed: number) => {
  const next = random(seed)
  const labels = Object.keys(kinds) as Array<keyof typeof kinds> // Object.keys boundary: the keys of a literal
  return Array.from({ length: n }, (_, i) => {
    const label = labels[i % labels.length] ?? STAY
    return { features: sample(label, next), label }
  })
}

describe("text", () => {
  it("words of 2 to 24 characters; long numbers become their shape", () => {
    expect(tokenize("a facture 2026 n° 1234567 ok")).toEqual(["facture", "2026", "#7", "ok"])
  })

  it("reply and forward markers are read off the subject, which keeps the rest", () => {
    expect(subjectParts("Re: Fwd: RE: Réunion Projet")).toEqual({ reply: true, forward: true, core: "reunion projet" })
    expect(subjectParts("TR: Facture")).toEqual({ reply: false, forward: true, core: "facture" })
  })
})

describe("features", () => {
  it("are the same for the same mail, and hold no text", () => {
    const one = extractFeatures(mail({ fromAddress: "a@b.example", subject: "Hello", body: "world" }))
    const two = extractFeatures(mail({ fromAddress: "a@b.example", subject: "Hello", body: "world" }))
    expect([...one.keys]).toEqual([...two.keys])
    expect(one.keys).toBeInstanceOf(Uint32Array)
  })

  it("keep roles apart: a word from the sender is its own, weighted feature, and a plain word as in the body", () => {
    const sender = "someone@example.org"
    const bare = new Set(extractFeatures(mail({ fromAddress: sender })).keys)
    const added = (features: ReturnType<typeof extractFeatures>) =>
      [...features.keys].flatMap((key, index) => (bare.has(key) ? [] : [{ key, weight: features.weights[index] }]))
    const fromSender = added(extractFeatures(mail({ fromAddress: sender, fromName: "invoice" })))
    const inBody = added(extractFeatures(mail({ fromAddress: sender, body: "invoice" })))
    expect(inBody).toHaveLength(1)
    expect(fromSender).toHaveLength(2)
    expect(fromSender).toContainEqual(inBody[0])
    expect(fromSender.find((feature) => feature.key !== inBody[0]?.key)?.weight).toBe(3)
  })
})

describe("features kept in the database", () => {
  const features = extractFeatures(mail({ fromAddress: "a@b.example", subject: "Hello there", body: "world and more" }))
  const same = (read: Features) => [[...read.keys], [...read.counts], [...read.weights]]

  it("read back as they were, from bytes on a 4-byte boundary and from bytes that are not", () => {
    const packed = packFeatures(features)
    expect(same(unpackFeatures(packed))).toEqual(same(features))
    const shifted = new Uint8Array(packed.length + 1)
    shifted.set(packed, 1)
    expect(same(unpackFeatures(shifted.subarray(1)))).toEqual(same(features))
  })
})

describe("calibration", () => {
  it("a model that says 0.9 is right about 90% of the time, on synthetic data with known noise", () => {
    // The truth: the top class is right with probability sigmoid(3 · margin − 4).
    const truth = (margin: number) => 1 / (1 + Math.exp(-(3 * margin - 4)))
    const draw = (n: number, seed: number) => {
      const next = random(seed)
      return Array.from({ length: n }, () => {
        const margin = next() * 4
        return { margin, right: next() < truth(margin) }
      })
    }
    const fitted = fitPlatt(...(() => {
      const fit = draw(3000, 1)
      return [fit.map((o) => o.margin), fit.map((o) => o.right)] as const
    })())
    const confident = draw(20000, 2).filter((o) => confidence(fitted, o.margin) >= 0.9)
    const precision = confident.filter((o) => o.right).length / confident.length
    expect(confident.length).toBeGreaterThan(2000)
    expect(precision).toBeGreaterThanOrEqual(0.9)
    expect(precision).toBeLessThan(0.99)
    // The fitted curve is close to the truth where it matters.
    expect(Math.abs(confidence(fitted, 2) - truth(2))).toBeLessThan(0.05)
  })

  it("too little evidence: nothing is confident; only right answers: sure, never certain, and a tie a coin toss", () => {
    expect(fitPlatt([1, 2, 3], [true, false, true])).toEqual(uncalibrated)
    expect(confidence(uncalibrated, 100)).toBe(0)
    const allRight = fitPlatt(Array.from({ length: 50 }, (_, i) => 1 + i / 10), Array.from({ length: 50 }, () => true))
    expect(confidence(allRight, 0)).toBe(0.5)
    expect(confidence(allRight, 0.1)).toBeLessThan(0.7)
    expect(confidence(allRight, 4)).toBeGreaterThan(0.97)
    expect(confidence(allRight, 4)).toBeLessThan(0.999)
  })

  it("each class is read by its own curve: a folder whose guesses are more often right at a margin earns more confidence there", () => {
    // The truth: guesses of A are right with probability sigmoid(3 · margin − 4), of B sigmoid(3 · margin − 1).
    const truth = { A: (m: number) => 1 / (1 + Math.exp(-(3 * m - 4))), B: (m: number) => 1 / (1 + Math.exp(-(3 * m - 1))) }
    const draw = (n: number, seed: number) => {
      const next = random(seed)
      return Array.from({ length: n }, (_, index) => {
        const top = index % 2 === 0 ? "A" : "B"
        const margin = next() * 3
        return { margin, top, right: next() < truth[top](margin) }
      })
    }
    const common = fitPlatt(...(() => {
      const fit = draw(4000, 3)
      return [fit.map((o) => o.margin), fit.map((o) => o.right)] as const
    })())
    const perClass = calibrate(draw(4000, 3))
    const test = draw(20000, 4)
    const at90 = (calibration: typeof common, top: string) => {
      const moved = test.filter((o) => o.top === top && confidence(calibration, o.margin, o.top) >= 0.9)
      return { moved: moved.length, precision: moved.filter((o) => o.right).length / moved.length }
    }
    // One curve for both is wrong for each: too sure of A, too shy of B.
    expect(confidence(common, 1.5)).toBeGreaterThan(truth.A(1.5) + 0.15)
    expect(Math.abs(confidence(perClass, 1.5, "A") - truth.A(1.5))).toBeLessThan(0.05)
    expect(at90(perClass, "A").precision).toBeGreaterThanOrEqual(0.9)
    expect(at90(perClass, "B").precision).toBeGreaterThanOrEqual(0.9)
    expect(at90(perClass, "B").moved).toBeGreaterThan(at90(common, "B").moved * 1.2)
    expect(Math.abs(confidence(perClass, 1.5, "B") - truth.B(1.5))).toBeLessThan(0.05)
    // A class it has no outcomes of is read by the common curve.
    expect(confidence(perClass, 1.5, "C")).toBe(confidence(perClass, 1.5))
  })

  it("a class's own curve needs evidence: three lucky guesses move it less than a hundred right ones, and a tie stays a coin toss", () => {
    const next = random(5)
    const common = Array.from({ length: 400 }, () => {
      const margin = next() * 3
      return { margin, right: next() < 1 / (1 + Math.exp(-(3 * margin - 3))), top: "A" }
    })
    const lucky = [0.2, 0.3, 0.4].map((margin) => ({ margin, right: true, top: "B" }))
    const sure = Array.from({ length: 100 }, (_, index) => ({ margin: 0.5 + (index % 10) / 10, right: true, top: "C" }))
    const calibration = calibrate([...common, ...lucky, ...sure])
    expect(calibration.shifts.get("B") ?? 0).toBeLessThan((calibration.shifts.get("C") ?? 0) - 0.5)
    expect(confidence(calibration, 0.5, "B")).toBeLessThan(confidence(calibration, 0.5, "C") - 0.1)
    expect(confidence(calibration, 1, "C")).toBeGreaterThan(0.9)
    expect(confidence(calibration, 0, "C")).toBeLessThanOrEqual(0.5)
    // Outcomes saved before the class was kept shift nothing.
    expect(calibrate(common.map(({ margin, right }) => ({ margin, right }))).shifts.size).toBe(0)
  })

  it("a class none of the outcomes was (a folder gone quiet before the slice) keeps the common curve: mail mistaken for it does not silence it", () => {
    const next = random(9)
    const common = Array.from({ length: 600 }, () => {
      const margin = next() * 3
      const right = next() < 1 / (1 + Math.exp(-(3 * margin - 3)))
      return { margin, right, top: "A", truth: right ? "A" : "B" }
    })
    // Guessed 40 times, each time wrong: no message of the slice was Logistics.
    const mistaken = Array.from({ length: 40 }, (_, index) => ({ margin: 1 + (index % 10) / 10, right: false, top: "Logistics", truth: "A" }))
    const calibration = calibrate([...common, ...mistaken])
    expect(calibration.shifts.has("Logistics")).toBe(false)
    expect(confidence(calibration, 1.5, "Logistics")).toBe(confidence(calibration, 1.5))
    // One message of the slice was Logistics (guessed as something else): then its own outcomes speak.
    const once = calibrate([...common, ...mistaken, { margin: 0.5, right: false, top: "A", truth: "Logistics" }])
    expect(once.shifts.get("Logistics") ?? 0).toBeLessThan(-1)
    // Outcomes saved before the truth was kept: as before.
    expect(calibrate([...common, ...mistaken.map(({ margin, right, top }) => ({ margin, right, top }))]).shifts.get("Logistics") ?? 0)
      .toBeLessThan(-1)
  })

  it("a class's curve lands where its outcomes say, even where the common curve is flat (near 1 or near 0)", () => {
    const next = random(8)
    const common = Array.from({ length: 1700 }, () => {
      const margin = next() * 3
      return { margin, right: next() < 1 / (1 + Math.exp(-(6 * margin - 3))), top: "A" }
    })
    // Sure-looking guesses (0.999 on the common curve) that are right 6 times in 10.
    const shaky = Array.from({ length: 100 }, (_, index) => ({ margin: 2 + (index % 10) / 10, right: index % 10 < 6, top: "Bank" }))
    // Guesses the common curve gives little chance that were always right.
    const hidden = Array.from({ length: 100 }, (_, index) => ({ margin: 0.3 + (index % 3) / 10, right: true, top: "Rare" }))
    const calibration = calibrate([...common, ...shaky, ...hidden])
    const mean = (outcomes: ReadonlyArray<{ margin: number; top: string }>) =>
      outcomes.reduce((sum, o) => sum + confidence(calibration, o.margin, o.top), 0) / outcomes.length
    expect(calibration.shifts.get("Bank") ?? 0).toBeLessThan(-2)
    expect(Math.abs(mean(shaky) - 0.6)).toBeLessThan(0.1)
    expect(confidence(calibration, 2.5, "Bank")).toBeLessThan(0.9)
    expect(mean(hidden)).toBeGreaterThan(confidence(calibration, 0.4) + 0.05)
    expect(confidence(calibration, 0, "Rare")).toBeLessThanOrEqual(0.5)
  })

  it("reads the best class and its lead over the runner-up", () => {
    expect(predict(new Float64Array([0.2, 1.5, 0.7]))).toEqual({ top: 1, margin: 0.8 })
    expect(predict(new Float64Array([0.4])).margin).toBe(Infinity)
  })
})

describe("the folder model", () => {
  const trained = FolderModel.train(mailbox(800, 7))

  it("files new mail where the user filed mail like it, confidently, and leaves mail like what stays", () => {
    const next = random(99)
    for (const label of ["Bank", "Work", "Travel"] as const) {
      const guess = trained.guess(sample(label, next))
      expect(guess.label).toBe(label)
      expect(guess.confidence).toBeGreaterThan(0.9)
      expect(guess.examples).toBe(200)
    }
    expect(trained.guess(sample(STAY, next)).label).toBeUndefined()
  })

  it("never wrong on mail easy to tell apart, it still does not move a message like none of it with that confidence", () => {
    // One sender for everything, as the sorter's own moves may be all it learned from so far.
    const from = { fromAddress: "alice@example.com", fromName: "Alice Example" }
    const sorted = [
      ["Bank", "Payment received", "a transfer was credited to your account"],
      ["Work", "Project meeting", "agenda of the meeting and the client report"],
      ["Travel", "Your train ticket", "booking confirmed, itinerary attached"]
    ] as const
    const examples = Array.from({ length: 300 }, (_, n) => {
      const [label, subject, body] = sorted[n % 3] ?? sorted[0]
      return { features: extractFeatures(mail({ ...from, subject: `${subject} ${n}`, body })), label }
    })
    const model = FolderModel.train(examples.slice(0, 100))
    for (const { features, label } of examples.slice(100)) {
      model.observe(features, label)
      model.learn(features, label)
    }
    model.recalibrate()
    expect(model.guess(extractFeatures(mail({ ...from, subject: "Payment received 999", body: "a transfer was credited" }))))
      .toMatchObject({ label: "Bank", confidence: expect.closeTo(1, 1) })
    const dinner = model.guess(extractFeatures(mail({ ...from, subject: "Dinner on Saturday", body: "see you at Paul's around 8?" })))
    expect(dinner.confidence).toBeLessThan(0.65)
  })

  it("learns a folder it did not know from the messages the user files there", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const invoice = (n: number) =>
      extractFeatures(mail({ fromAddress: "billing@power.example", subject: `Invoice ${n}`, body: "electricity invoice due" }))
    expect(model.guess(invoice(1)).label).not.toBe("Utilities")
    for (let n = 0; n < 5; n++) model.learn(invoice(n), "Utilities")
    expect(model.guess(invoice(9)).label).toBe("Utilities")
    expect(model.classes.find((c) => c.label === "Utilities")?.examples).toBe(5)
  })

  it("a correction weighs more than a message filed once, and counts as one message, learned or taken back", () => {
    // Work mail the user files in Bank, once: how much of the Work mail like it does each model then call Bank?
    const refiled = sample("Work", random(21))
    const once = FolderModel.train(mailbox(400, 3))
    const corrected = FolderModel.train(mailbox(400, 3))
    once.learn(refiled, "Bank")
    corrected.learn(refiled, "Bank", 3)
    const next = random(22)
    const alike = Array.from({ length: 200 }, () => sample("Work", next))
    const calledBank = (model: FolderModel) => alike.filter((features) => model.guess(features).label === "Bank").length
    expect(calledBank(corrected)).toBeGreaterThan(calledBank(once))
    const examplesOf = (model: FolderModel) => model.classes.find((c) => c.label === "Bank")?.examples ?? 0
    expect(examplesOf(corrected)).toBe(examplesOf(once))
    corrected.unlearn(refiled, "Bank", 3)
    expect(examplesOf(corrected)).toBe(examplesOf(once) - 1)
    // A message read but never learned (0 times) has nothing to take back.
    corrected.unlearn(refiled, "Bank", 0)
    expect(examplesOf(corrected)).toBe(examplesOf(once) - 1)
  })

  it("a few corrections do not turn a sender's mail to another folder: its history outweighs them until the user's filing changes", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const next = random(31)
    const bankMail = (n: number) => Array.from({ length: n }, () => sample("Bank", next))
    // The user refiles three of the bank's messages into Work, as corrections (weighing three).
    for (const refiled of bankMail(3)) {
      model.unlearn(refiled, "Bank")
      model.learn(refiled, "Work", 3)
    }
    const guesses = bankMail(100).map((features) => model.guess(features))
    // The model alone follows the latest lessons, but a guess against the bank's 97 messages in
    // Bank is only as sure as that history: nothing goes to Work at a confidence that moves mail.
    expect(guesses.filter((guess) => guess.label === "Work" && guess.confidence >= 0.5)).toEqual([])
    // The user now files the bank's mail in Work for good: the history follows, and so do the guesses.
    for (const filed of bankMail(150)) model.learn(filed, "Work")
    const later = bankMail(20).map((features) => model.guess(features))
    expect(later.every((guess) => guess.label === "Work" && guess.confidence > 0.9)).toBe(true)
  })

  it("a few of a sender's messages filed in a new folder do not turn the rest of their mail there: 80% of their history is enough to cap it", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const next = random(71)
    const words = (kind: "Travel" | "Bank") => kinds[kind].words.filter(() => next() < 0.5).join(" ")
    const club = (kind: "Travel" | "Bank") => extractFeatures(mail({ fromAddress: "club@trips.example", subject: words(kind), body: words(kind) }))
    for (let n = 0; n < 21; n++) model.learn(club("Travel"), "Travel")
    // Their receipts, 3 of 24 (87.5% in Travel), filed in a new folder: the model follows its latest lessons.
    for (let n = 0; n < 3; n++) model.learn(club("Bank"), "Receipts")
    const guesses = Array.from({ length: 50 }, () => model.guess(club("Travel")))
    expect(guesses.filter((guess) => guess.label === "Receipts" && guess.confidence >= 0.5)).toEqual([])
    // Mail like what they keep, 3 of their 20: kept, not filed in their usual folder (that takes 90%).
    const bank = (topic: ReadonlyArray<string>) => extractFeatures(mail({ fromAddress: "alerts@mybank.example", subject: topic.join(" "), body: topic.join(" ") }))
    const fresh = FolderModel.train(mailbox(400, 3).filter((example) => example.label !== "Bank"))
    for (let n = 0; n < 17; n++) fresh.learn(bank(["statement", "balance", "account"]), "Bank")
    for (let n = 0; n < 3; n++) fresh.learn(bank(["dinner", "weekend", "photos"]), STAY)
    expect(fresh.guess(bank(["dinner", "weekend", "photos"])).usual).toBeUndefined()
  })

  it("one message moved back out of the folder that holds nearly all of a sender's mail does not make the rest of it stay", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const statement = () =>
      extractFeatures(mail({ fromAddress: "alerts@mybank.example", subject: "Your monthly statement", body: "statement balance account" }))
    for (let n = 0; n < 40; n++) model.learn(statement(), "Bank")
    // The user moves one back to INBOX (a reminder): unlearned as Bank, learned as staying, three times over.
    model.unlearn(statement(), "Bank")
    model.learn(statement(), STAY, 3)
    // The model alone would keep it; the bank's history says Bank, as sure as 40 of 41.
    const next = model.guess(statement())
    expect(next.label).toBeUndefined()
    expect(next.usual?.label).toBe("Bank")
    expect(next.usual?.confidence).toBeGreaterThan(0.9)
    // Mail of a sender the user keeps is not made to look kept by its history the other way round.
    const friend = (subject: string) => extractFeatures(mail({ fromAddress: "friend@home.example", subject, body: "dinner weekend photos" }))
    for (let n = 0; n < 40; n++) model.learn(friend("dinner"), STAY)
    for (let n = 0; n < 3; n++) model.learn(friend("statement balance account transfer"), "Bank", 3)
    const bankLike = model.guess(friend("statement balance account transfer"))
    expect([bankLike.label, bankLike.usual]).toEqual(["Bank", undefined])
    // A model not calibrated yet moves nothing, its sender histories included.
    const fresh = new FolderModel()
    for (let n = 0; n < 40; n++) fresh.learn(statement(), "Bank")
    for (let n = 0; n < 3; n++) fresh.learn(friend("dinner"), STAY)
    fresh.learn(statement(), STAY, 3)
    expect(fresh.guess(statement())).toEqual({ label: undefined, confidence: 0, examples: expect.any(Number) })
  })

  it("a sender the user made a folder for goes there, as sure as their share of mail there", () => {
    const next = random(41)
    const travel = () => kinds.Travel.words.filter(() => next() < 0.5).join(" ")
    const from = (sender: string) => (label: string) => ({
      features: extractFeatures(mail({ fromAddress: `${sender}@trips.example`, subject: travel(), body: travel() })),
      label
    })
    const asked = (sender: string) => from(sender)("").features
    const history = (sender: string, labels: ReadonlyArray<string>) => labels.map(from(sender))
    const trainedWith = (...senders: ReadonlyArray<ReadonlyArray<Example>>) => FolderModel.train([...mailbox(400, 3), ...senders.flat()])
    const travelled = Array.from({ length: 20 }, () => "Travel")
    // Their mail went to Travel, and looks like it; then the user made a folder for it, with the latest.
    const club = trainedWith(history("club", [...travelled, "Club"]))
    expect(club.guess(asked("club"))).toMatchObject({ label: "Club", confidence: 2 / 23, examples: 21, habit: { label: "Travel" } })
    // Mail "from" them that the model takes for another folder's (spam forging their address, say) is not theirs to follow.
    const bankLike = extractFeatures(mail({ fromAddress: "club@trips.example", subject: "statement balance transfer", body: "account card payment" }))
    expect(club.guess(bankLike)).toMatchObject({ label: "Bank" })
    expect(club.guess(bankLike).habit).toBeUndefined()
    // Two messages there: surer.
    expect(trainedWith(history("club", [...travelled, "Club", "Club"])).guess(asked("club")))
      .toMatchObject({ label: "Club", confidence: 3 / 24, habit: { label: "Travel" } })
    // Not so: mail that went to two folders before, a folder that was not new, mail filed in Travel again.
    const notMoved = trainedWith(
      history("twice", ["Work", ...travelled, "Club"]),
      history("other", [...travelled, "Work"]),
      history("back", [...travelled, "Club2", "Travel"])
    )
    for (const sender of ["twice", "other", "back"]) expect(notMoved.guess(asked(sender))).toMatchObject({ label: "Travel" })
  })

  it("one correction into an empty folder does not take a sender's mail with it: the model's own guess of it stays capped by their history", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const next = random(31)
    for (let n = 0; n < 60; n++) model.learn(sample("Bank", next), "Bank")
    // The user moves one of the bank's messages the sorter filed into a new folder: a correction, three times over.
    model.learn(sample("Bank", next), "Savings", 3)
    const guesses = Array.from({ length: 100 }, () => model.guess(sample("Bank", next)))
    expect(guesses.filter((guess) => guess.confidence >= 0.5)).toEqual([])
    // Where the model still says Bank, the new folder is named, as sure as 2 in 163 (100 + 60 in Bank).
    expect(guesses.filter((guess) => guess.habit !== undefined).every((guess) => guess.confidence === 2 / 163)).toBe(true)
  })

  it("a sender's history outlives a message taken back: what they filed before still counts, and a rebuilt model follows them alike", () => {
    const next = random(51)
    const words = (kind: "Travel" | "Bank") => kinds[kind].words.filter(() => next() < 0.5).join(" ")
    const club = (kind: "Travel" | "Bank" = "Travel") =>
      extractFeatures(mail({ fromAddress: "club@trips.example", subject: words(kind), body: words(kind) }))
    const examples: Array<Example> = [...mailbox(400, 3), ...Array.from({ length: 20 }, () => ({ features: club(), label: "Travel" }))]
    const model = FolderModel.train(examples)
    // Filed in a new folder and straight back; later, a new folder begun with three of theirs.
    const refiled = club()
    model.learn(refiled, "Club")
    model.unlearn(refiled, "Club")
    model.learn(refiled, "Travel")
    const receipts = Array.from({ length: 3 }, () => club("Bank"))
    for (const features of receipts) model.learn(features, "Receipts")
    const guess = model.guess(club())
    expect(guess).toMatchObject({ label: "Receipts", confidence: 4 / 26, examples: 24 })
    // The mail it holds now, in the order learned: the same runs.
    const rebuilt = new FolderModel(model.options, { ...structuredClone(model.state), senderRuns: undefined })
    rebuilt.followSenders([...examples, { features: refiled, label: "Travel" }, ...receipts.map((features) => ({ features, label: "Receipts" }))])
    expect(rebuilt.state.senderRuns).toEqual(model.state.senderRuns)
    // A folder emptied and begun again by another sender's message is new again, kept or rebuilt.
    const other = extractFeatures(mail({ fromAddress: "other@trips.example", subject: "ticket seat", body: "booking" }))
    for (const features of receipts) model.unlearn(features, "Receipts")
    for (let n = 0; n < 4; n++) model.learn(other, "Travel")
    model.learn(other, "Receipts")
    const founded = (m: FolderModel) => m.state.senderRuns?.find(([key]) => key === senderKey(other))?.[3]
    expect(founded(model)).toBe(true)
  })

  it("a model saved before senders' runs were kept follows them afresh over the mail it learned, as if it had kept them", () => {
    const examples = [
      ...mailbox(400, 3),
      ...Array.from({ length: 5 }, (_, n) => ({
        features: extractFeatures(mail({ fromAddress: "club@trips.example", subject: `ticket seat ${n}`, body: "booking" })),
        label: n < 4 ? "Travel" : "Club"
      }))
    ]
    const model = FolderModel.train(examples)
    const old = new FolderModel(model.options, { ...structuredClone(model.state), senderRuns: undefined })
    const asked = extractFeatures(mail({ fromAddress: "club@trips.example", subject: "ticket seat", body: "booking" }))
    expect(old.guess(asked).habit).toBeUndefined()
    old.followSenders(examples)
    expect(old.state.senderRuns).toEqual(model.state.senderRuns)
    expect(old.guess(asked)).toEqual(model.guess(asked))
    expect(old.guess(asked).label).toBe("Club")
  })

  it("is deterministic: the same mail in the same order gives the same answers", () => {
    const again = FolderModel.train(mailbox(800, 7))
    const probe = sample("Work", random(5))
    expect(again.guess(probe)).toEqual(trained.guess(probe))
  })

  it("trained from examples read one by one, in two passes (probes, then model), it is the same model as from all of them at once", () => {
    // 400 examples, the newest 100 replayed: the probe's replay ends at the cut (320), the model's at the end.
    const options = { ...defaultFolderModelOptions, replay: 100 }
    const examples = mailbox(400, 3)
    let reads = 0
    // Each example a fresh copy, as the database gives a held message's features.
    function* oneByOne(): Generator<Example> {
      reads++
      for (const { features, label } of examples) yield { features: unpackFeatures(packFeatures(features)), label }
    }
    const streamed = FolderModel.trainFrom(oneByOne, examples.length, options)
    expect(reads).toBe(2)
    expect(streamed.state).toEqual(FolderModel.train(examples, options).state)
  })

  it("weighs the header block on its own where the user's held-out mail says so: filed by sender, not by topic", () => {
    const next = random(42)
    const vocabulary = Array.from({ length: 3000 }, (_, n) => `w${n}`)
    const topics = Array.from({ length: 10 }, (_, t) => vocabulary.slice(20 * t, 20 * t + 20))
    const words = (n: number, from: ReadonlyArray<string>) => Array.from({ length: n }, () => from[Math.floor(next() * from.length)]).join(" ")
    const message = (from: string, body: string) =>
      extractFeatures(mail({ fromAddress: from, subject: words(3, vocabulary), body }))
    // Each folder is one sender's; the newest fifth of each sender's mail (the held-out slice) is
    // about the next sender's topic: only a model that lets the sender outweigh 60 words gets it.
    const bySender = Array.from({ length: 600 }, (_, n) => {
      const folder = n % 10
      const topic = n < 480 ? folder : (folder + 1) % 10
      return { features: message(`p${folder}@company${folder}.example`, `${words(40, topics[topic] ?? [])} ${words(20, vocabulary)}`), label: `F${folder}` }
    })
    // Each folder is one topic's, from any of 30 senders: the sender is noise.
    const byTopic = Array.from({ length: 600 }, (_, n) => {
      const folder = n % 10
      return { features: message(`p${Math.floor(next() * 30)}@example.org`, `${words(4, topics[folder] ?? [])} ${words(100, vocabulary)}`), label: `F${folder}` }
    })
    expect(FolderModel.train(bySender).headerBoost).toBe(1)
    expect(FolderModel.train(byTopic).headerBoost).toBe(0)
    // Kept with the model.
    const saved = FolderModel.train(bySender)
    expect(new FolderModel(defaultFolderModelOptions, saved.state).headerBoost).toBe(1)
  })

  it("the header block's copy: features of their own, its share of the message as the boost says", () => {
    const features = extractFeatures(mail({ fromAddress: "a@b.example", subject: "quarterly figures", body: "one two three four five six" }))
    const plain = weigh(features, () => 1)
    const boosted = weigh(features, () => 1, 1)
    const length = (values: Float32Array) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0))
    expect(length(plain.values)).toBeCloseTo(1, 5)
    expect(length(boosted.values)).toBeCloseTo(1, 5)
    const size = plain.keys.length
    expect(Array.from(boosted.keys.subarray(0, size))).toEqual(Array.from(plain.keys))
    const copies = Array.from(boosted.keys.subarray(size))
    expect(copies.length).toBe([...features.weights].filter((weight) => weight > 1).length)
    expect(copies.some((key) => plain.keys.includes(key))).toBe(false)
    // The message at 1/√2 of itself, the copy as long as it: half the length² each.
    expect(length(boosted.values.slice(size)) ** 2).toBeCloseTo(0.5, 5)
  })

  it("two folders scoring the same is no opinion at all, even where the curve says 0.5 and a threshold asks for less", () => {
    // A model whose weights are all zero scores every folder 0; its guesses so far were all right,
    // so its curve says 0.5 for a tie.
    const options = defaultFolderModelOptions
    const tied = new FolderModel(options, {
      labels: ["Bank", "Work"],
      counts: [50, 50],
      weights: new Float32Array(2 ** options.bits),
      documentCounts: new Float32Array(2 ** options.dfBits),
      documents: 100,
      outcomes: Array.from({ length: 40 }, (_, n) => ({ margin: 0.5 + n / 20, right: true, top: n % 2 === 0 ? "Bank" : "Work" })),
      senders: []
    })
    expect(tied.guess(sample("Bank", random(1)))).toEqual({ label: undefined, confidence: 0, examples: 0 })
  })

  it("saved and restored, it answers exactly as before and learns on from there", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const copy = new FolderModel(model.options, structuredClone(model.state))
    const probe = sample("Travel", random(11))
    expect(copy.guess(probe)).toEqual(model.guess(probe))
    expect(copy.classes).toEqual(model.classes)
    const extra = sample("Bank", random(12))
    model.learn(extra, "Bank")
    copy.learn(extra, "Bank")
    expect(copy.guess(probe)).toEqual(model.guess(probe))
  })

  it("a folder whose guesses turned out wrong is trusted less, and still after its category is renamed", () => {
    const model = FolderModel.train(mailbox(400, 3))
    const probe = sample("Bank", random(21))
    const before = model.guess(probe).confidence
    // The user keeps filing mail the model takes for Bank elsewhere.
    const next = random(22)
    for (let n = 0; n < 60; n++) model.observe(sample("Bank", next), "Work")
    model.recalibrate()
    const doubted = model.guess(probe)
    expect(doubted.label).toBe("Bank")
    expect(doubted.confidence).toBeLessThan(before - 0.2)
    expect(model.guess(sample("Travel", random(23))).confidence).toBeGreaterThan(doubted.confidence + 0.2)
    model.rename("Bank", "Money")
    expect(model.guess(probe)).toEqual({ ...doubted, label: "Money" })
  })

  it("mail that only ever stays teaches no calibration: with one class there is no choice to grade", () => {
    const stays = Array.from({ length: 100 }, (_, n) => ({ features: sample(STAY, random(n)), label: STAY }))
    const model = FolderModel.train(stays)
    expect(model.state.outcomes).toEqual([])
    expect(model.guess(sample("Bank", random(1))).label).toBeUndefined()
  })
})
