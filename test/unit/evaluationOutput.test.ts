/** What `evaluate` prints and the page it writes: hostile names stay text, and the page loads nothing. */
import { describe, expect, it } from "vitest"
import { evaluationPage, escapeHtml } from "../../src/cli/evaluationPage.ts"
import { formatEvaluation } from "../../src/cli/evaluationText.ts"
import { evaluate, type TestResult } from "../../src/classify/evaluation.ts"
import { STAY } from "../../src/classify/FolderModel.ts"
import type { EvaluationReport } from "../../src/pipeline/evaluate.ts"

const report = (
  ids: readonly [string, string],
  folders: readonly [string, string],
  missing: EvaluationReport["missing"] = []
): EvaluationReport => {
  const [first, second] = ids
  const results: ReadonlyArray<TestResult> = [
    { truth: first, guess: first, confidence: 0.97, moves: true, movable: true },
    { truth: first, guess: second, confidence: 0.6, moves: false, movable: true },
    { truth: second, guess: second, confidence: 0.91, moves: true, movable: true },
    { truth: STAY, guess: undefined, confidence: 0.8, moves: false, movable: false },
    { truth: STAY, guess: first, confidence: 0.3, moves: false, movable: true }
  ]
  return {
    evaluation: evaluate(results, [{ id: first, threshold: 0.8, floor: 0 }, { id: second, threshold: 0.99, floor: 0 }]),
    folders: [
      { path: folders[0], label: first, messages: 10 },
      { path: folders[1], label: second, messages: 5 },
      { path: "INBOX", label: STAY, messages: 4 }
    ],
    categoryFolders: new Map([[first, folders[0]], [second, folders[1]]]),
    trained: 14,
    tested: 5,
    calibrated: true,
    kinds: 3,
    sharing: [],
    unreadable: 0,
    placedBySorter: 0,
    missing
  }
}

const hostile = report(
  ["<script>alert(1)</script>", "x\" onload=\"alert(2)"],
  ["Folders/\u001b]0;pwned\u0007<img src=x onerror=alert(3)>", "Spam\u202e'&"],
  [{ path: "Folders/Gone\u001b[2J<b>", label: "GONE<i>" }]
)

/** The names of every element the page opens. */
const tags = (page: string): Set<string> => new Set([...page.matchAll(/<([a-zA-Z][\w-]*)/g)].map((match) => match[1] ?? ""))

const allowedTags = new Set([
  "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "b", "div", "table", "thead", "tbody", "tr", "th",
  "td", "ol", "li", "svg", "rect", "text", "line", "polyline", "circle"
])

describe("what an LLM would no longer be asked about (PROTON_LUMO_LLM_SKIP_KEPT)", () => {
  it("is said in the text and on the page: how much is left, and how much of that a category's", () => {
    const plain = {
      ...report(["BANQUE", "PRO"], ["Folders/Banque", "Folders/Travail"]),
      evaluation: evaluate([
        { truth: "BANQUE", guess: "BANQUE", confidence: 0.97, moves: true, movable: true },
        { truth: STAY, guess: undefined, confidence: 0.8, moves: false, movable: false },
        { truth: STAY, guess: undefined, confidence: 0.95, moves: false, movable: false, kept: true },
        { truth: "PRO", guess: undefined, confidence: 0.92, moves: false, movable: false, kept: true },
        { truth: "PRO", guess: "PRO", confidence: 0.6, moves: false, movable: true },
        { truth: STAY, guess: "PRO", confidence: 0.3, moves: false, movable: true },
        { truth: "BANQUE", guess: "PRO", confidence: 0.5, moves: false, movable: true }
      ], [{ id: "BANQUE", threshold: 0.8, floor: 0 }, { id: "PRO", threshold: 0.8, floor: 0 }])
    }
    const said = "2 of 7, the model being sure they stay; 1 of them filed in a category (left in place, where the LLM might have filed them)"
    expect(formatEvaluation(plain)).toContain(`\nWith an LLM, left without asking it (PROTON_LUMO_LLM_SKIP_KEPT): ${said}\n`)
    expect(evaluationPage(plain, Date.UTC(2026, 11, 1))).toContain(`With an LLM, left without asking it<b>28.6%</b>${said}</div>`)
    // An LLM configured to be asked about all of it (SKIP_KEPT=false): nothing to say.
    const asksAll = { ...plain, llmAsksKept: true }
    expect(formatEvaluation(asksAll)).not.toContain("With an LLM")
    expect(evaluationPage(asksAll, Date.UTC(2026, 11, 1))).not.toContain("With an LLM")
  })
})

describe("the evaluation page", () => {
  it("is self-contained: no script, no link, no URL, and a policy that loads nothing", () => {
    const page = evaluationPage(report(["BANQUE", "PRO"], ["Folders/Banque", "Folders/Travail"]), Date.UTC(2026, 11, 1))
    expect(page).not.toMatch(/https?:|\/\/[a-z]|url\(|@import|<script|<link|<img|<iframe|href=|src=/i)
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`)
    expect(page).toContain(`<svg class="matrix"`)
    expect(page).toContain(`<svg class="curve"`)
    expect(page).toContain("BANQUE → PRO: 1 (50.0% of the row)")
    expect([...tags(page)].filter((tag) => !allowedTags.has(tag))).toEqual([])
  })

  it("leaves room in the matrix for long names, left of the rows and right of the last slanted column label", () => {
    const page = evaluationPage(report(["c_mangmt_group_management", "tw_commercial_group_long"], ["Folders/A", "Folders/B"]), 0)
    const matrix = /<svg class="matrix"[^>]* width="(\d+)"[\s\S]*?<\/svg>/.exec(page)
    const rowLabelX = [...(matrix?.[0] ?? "").matchAll(/<text x="(\d+)" y="[\d.]+" text-anchor="end">/g)].map((m) => Number(m[1]))
    // 22 characters shown, under 7px each at 11px: every row label ends at least 154px from the left edge.
    expect(rowLabelX.length).toBe(3)
    for (const x of rowLabelX) expect(x).toBeGreaterThanOrEqual(154)
    const lastColumn = [...(matrix?.[0] ?? "").matchAll(/translate\(([\d.]+) /g)].map((m) => Number(m[1])).at(-1) ?? Infinity
    expect(Number(matrix?.[1])).toBeGreaterThanOrEqual(lastColumn + 154 * Math.cos((50 * Math.PI) / 180))
  })

  it("escapes hostile category and folder names: they stay text", () => {
    const page = evaluationPage(hostile, 0)
    expect([...tags(page)].filter((tag) => !allowedTags.has(tag))).toEqual([])
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;")
    expect(page).toContain("x&quot; onload=&quot;alert(2)")
    expect(page).toContain("Folders/\\x1b]0;pwned\\x07&lt;img src=x onerror=alert(3)&gt;")
    expect(page).toContain("Spam\\u202e&#39;&amp;")
    expect(page).toContain("Not on the server (nothing to learn from): Folders/Gone\\x1b[2J&lt;b&gt; (GONE&lt;i&gt;).")
    // No element carries an event handler, and no control or direction override reaches the page.
    expect(page).not.toMatch(/<[^>]*\son\w+=/)
    // oxlint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(page).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/)
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
  })
})

describe("the printed evaluation", () => {
  it("lines up its table, and shows control characters in names as escapes", () => {
    const text = formatEvaluation(hostile)
    // oxlint-disable-next-line no-control-regex -- looking for control characters is the point
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/)
    expect(text).toContain("Folders/\\x1b]0;pwned\\x07<img src=x onerror=alert(3)>")
    expect(text).toContain("Not on the server (nothing to learn from): Folders/Gone\\x1b[2J<b> (GONE<i>).")
    expect(text).toContain("Accuracy with everything moved: 60.0% (3 of 5 top guesses right)")
    expect(text).toContain("At your thresholds: 2 of 5 moved (coverage 40.0%), 2 right (precision 100.0%)")
    const lines = text.split("\n")
    const header = lines.findIndex((line) => line.startsWith("category"))
    const columns = (line: string) => [...line.matchAll(/\S+/g)].map((match) => match.index + match[0].length)
    // Every row's count ends where the header's "count" ends.
    const countEnd = (lines[header] ?? "").indexOf("count") + "count".length
    for (const row of lines.slice(header + 1, header + 4)) expect(columns(row)).toContain(countEnd)
    expect(lines[header - 1]).toMatch(/everything moved.*─ at the category's threshold ─/)
  })

  it("lines up names of double-width characters (CJK) with the others", () => {
    const lines = formatEvaluation(report(["銀行の明細", "Travel"], ["Folders/Bank", "Folders/Travel"])).split("\n")
    const columnOf = (line: string | undefined, text: string) => {
      const before = (line ?? "").slice(0, (line ?? "").indexOf(text))
      return [...before].reduce((sum, char) => sum + (/[\u3040-\u9fff]/.test(char) ? 2 : 1), 0)
    }
    const bank = lines.find((line) => line.startsWith("銀行の明細"))
    const travel = lines.find((line) => line.startsWith("Travel "))
    expect(columnOf(bank, "Folders/Bank")).toBe(columnOf(travel, "Folders/Travel"))
  })
})
