/**
 * `evaluate --html FILE`: the same figures as one self-contained page, for people who would
 * rather look than read: a confusion matrix heat map and a precision-against-coverage curve.
 *
 * Self-contained: inline CSS and inline SVG, no script, no font, no image, no link to anything;
 * its Content-Security-Policy forbids loading anything, so opening it contacts nobody. Category
 * ids and folder names come from the user's files and the server: every one is HTML-escaped (and
 * its control and direction-changing characters made visible), so no name can become markup.
 */
import type { CategoryFigures, ClassFigures, Evaluation } from "../classify/evaluation.ts"
import { STAY } from "../classify/FolderModel.ts"
import { escapeControls } from "../domain/Terminal.ts"
import type { EvaluationReport } from "../pipeline/evaluate.ts"
import { calibrationText, confidence, keptDetail, sharingText, labelName, MEASURED_TEXT, percent, safeThresholdText, splitText, threshold } from "./evaluationText.ts"

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Text safe in HTML content and in quoted attributes. */
export const escapeHtml = (text: string): string => escapeControls(text).replace(/[&<>"']/g, (char) => entities[char] ?? char)

/** At most `max` characters, an ellipsis marking the cut (the full name goes in a tooltip). */
const shorten = (text: string, max: number): string => ([...text].length <= max ? text : `${[...text].slice(0, max - 1).join("")}…`)

const number = (value: number): string => (Math.round(value * 10) / 10).toString()

const style = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.summary { display: flex; gap: 1rem; flex-wrap: wrap; }
.figure { border: 1px solid #d6dae3; border-radius: 6px; padding: .6rem 1rem; }
.figure b { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; } th, td { padding: .25rem .6rem; border-bottom: 1px solid #e3e6ec; text-align: right; }
th:first-child, td:first-child, td.folder { text-align: left; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.note { color: #5a6273; font-size: .9rem; }
`

const categoryRow = (figures: CategoryFigures, folder: string): string =>
  `<tr><td>${escapeHtml(labelName(figures.label))}</td><td class="folder">${escapeHtml(folder)}</td><td>${figures.count}</td>` +
    `<td>${percent(figures.precision)}</td><td>${percent(figures.recall)}</td><td>${threshold(figures.threshold)}</td>` +
    `<td>${figures.moved}</td><td>${percent(figures.precisionAtThreshold)}</td><td>${percent(figures.recallAtThreshold)}</td>` +
    `<td>${escapeHtml(safeThresholdText(figures))}</td></tr>`

const staysRow = (figures: ClassFigures): string =>
  `<tr><td>${escapeHtml(labelName(STAY))}</td><td class="folder">read mail left in the source folders</td><td>${figures.count}</td>` +
  `<td>${percent(figures.precision)}</td><td>${percent(figures.recall)}</td><td colspan="5"></td></tr>`

/** How many characters of a label the matrix shows (the whole label is in its tooltip). */
const LABEL_CHARS = 22

/** Rows: where the mail belongs; columns: the model's top guess; each cell shaded by its share of the row. */
const matrixSvg = (evaluation: Evaluation): string => {
  const { labels, counts } = evaluation.matrix
  const n = labels.length
  const cell = Math.max(14, Math.min(40, Math.floor(560 / Math.max(1, n))))
  // Room for the longest label as shown (11px text: under 7px a character), left of the rows and
  // right of the last column's slanted label (cos 50° of its length): none is cut at the edge.
  const longest = Math.max(0, ...labels.map((label) => [...shorten(labelName(label), LABEL_CHARS)].length)) * 7
  const left = Math.max(60, longest + 12)
  const top = 130
  const size = cell * n
  const width = Math.max(left + size + Math.ceil(longest * 0.65) + 12, 420)
  const height = top + size + 40
  const parts: Array<string> = []
  for (const [row, truth] of labels.entries()) {
    const rowCounts = counts[row] ?? []
    const rowTotal = rowCounts.reduce((sum, count) => sum + count, 0)
    const y = top + row * cell
    parts.push(
      `<text x="${left - 6}" y="${number(y + cell / 2 + 4)}" text-anchor="end"><title>${escapeHtml(labelName(truth))}</title>` +
        `${escapeHtml(shorten(labelName(truth), LABEL_CHARS))}</text>`
    )
    for (const [column, guess] of labels.entries()) {
      const count = rowCounts[column] ?? 0
      const share = rowTotal === 0 ? 0 : count / rowTotal
      const hue = row === column ? 140 : 8
      const lightness = 92 - share * 52
      const fill = count === 0 ? "#f6f7f9" : `hsl(${hue}, 65%, ${number(lightness)}%)`
      const x = left + column * cell
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="${fill}">` +
          `<title>${escapeHtml(`${labelName(truth)} → ${labelName(guess)}: ${count} (${percent(share)} of the row)`)}</title></rect>`
      )
      if (count > 0 && cell >= 20) {
        parts.push(
          `<text x="${number(x + cell / 2)}" y="${number(y + cell / 2 + 4)}" text-anchor="middle"` +
            `${lightness < 60 ? ` style="fill: #fff"` : ""}>${count}</text>`
        )
      }
    }
  }
  for (const [column, guess] of labels.entries()) {
    const x = left + column * cell + cell / 2
    parts.push(
      `<text transform="translate(${number(x + 4)} ${top - 6}) rotate(-50)"><title>${escapeHtml(labelName(guess))}</title>` +
        `${escapeHtml(shorten(labelName(guess), LABEL_CHARS))}</text>`
    )
  }
  parts.push(
    `<text x="10" y="${top + size + 24}">rows: where it belongs · columns: the model's top guess</text>`
  )
  return `<svg class="matrix" role="img" aria-label="confusion matrix" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`
}

/** Precision (up) against coverage (across) for one threshold swept over every guess; your thresholds marked. */
const curveSvg = (evaluation: Evaluation): string => {
  const width = 560
  const height = 380
  const left = 56
  const right = 20
  const top = 20
  const bottom = 50
  const x = (coverage: number) => number(left + coverage * (width - left - right))
  const y = (precision: number) => number(top + (1 - precision) * (height - top - bottom))
  const parts: Array<string> = []
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${x(tick)}" y1="${y(0)}" x2="${x(tick)}" y2="${y(1)}" stroke="#eceef2"/>`,
      `<line x1="${x(0)}" y1="${y(tick)}" x2="${x(1)}" y2="${y(tick)}" stroke="#eceef2"/>`,
      `<text x="${x(tick)}" y="${number(height - bottom + 16)}" text-anchor="middle">${tick * 100}%</text>`,
      `<text x="${left - 6}" y="${number(Number(y(tick)) + 4)}" text-anchor="end">${tick * 100}%</text>`
    )
  }
  parts.push(
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(0)}" stroke="#8a90a0"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(1)}" stroke="#8a90a0"/>`,
    `<text x="${x(0.5)}" y="${height - 10}" text-anchor="middle">coverage: share of all mail moved</text>`,
    `<text transform="translate(14 ${y(0.5)}) rotate(-90)" text-anchor="middle">precision: share of moves that are right</text>`
  )
  const { curve } = evaluation
  if (curve.length > 0) {
    const points = [[0, curve[0]?.precision ?? 1], ...curve.map((point) => [point.coverage, point.precision])]
    parts.push(
      `<polyline fill="none" stroke="#2f6fd6" stroke-width="2" points="${points.map(([c = 0, p = 0]) => `${x(c)},${y(p)}`).join(" ")}"/>`
    )
    const stride = Math.max(1, Math.ceil(curve.length / 150))
    for (const [index, point] of curve.entries()) {
      if (index % stride !== 0 && index !== curve.length - 1) continue
      parts.push(
        `<circle cx="${x(point.coverage)}" cy="${y(point.precision)}" r="2.5" fill="#2f6fd6"><title>threshold ${
          confidence(point.threshold)
        }: coverage ${percent(point.coverage)}, precision ${percent(point.precision)}</title></circle>`
      )
    }
  }
  const { coverage, precision } = evaluation.atThresholds
  if (coverage !== undefined && precision !== undefined) {
    parts.push(
      `<circle cx="${x(coverage)}" cy="${y(precision)}" r="6" fill="none" stroke="#d1495b" stroke-width="2.5">` +
        `<title>your thresholds: coverage ${percent(coverage)}, precision ${percent(precision)}</title></circle>`,
      `<text x="${number(Number(x(coverage)) + 9)}" y="${number(Number(y(precision)) + 14)}" fill="#d1495b">your thresholds</text>`
    )
  }
  return `<svg class="curve" role="img" aria-label="precision against coverage" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">${parts.join("")}</svg>`
}

/** The whole page. `generatedAt`: epoch milliseconds, shown as when the evaluation was made. */
export const evaluationPage = (report: EvaluationReport, generatedAt: number): string => {
  const { evaluation } = report
  const { atThresholds } = evaluation
  const confusions = evaluation.confusions.length === 0
    ? "<p>None: every top guess was right.</p>"
    : `<ol>${
      evaluation.confusions.map((confusion) =>
        `<li>${confusion.count} × ${escapeHtml(labelName(confusion.truth))} → ${escapeHtml(labelName(confusion.guess))}</li>`
      ).join("")
    }</ol>`
  const read = report.folders.map((folder) =>
    `${escapeHtml(folder.path)} (${folder.label === STAY ? "stays" : escapeHtml(labelName(folder.label))}): ${folder.messages}`
  ).join(", ")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ProtonLumoAI: how well it would sort your mail</title>
<style>${style}</style>
</head>
<body>
<h1>How well it would sort your mail</h1>
<p>Evaluated on your own folders: ${escapeHtml(splitText(report))}.
Nothing was changed on the server and nothing was saved. ${escapeHtml(MEASURED_TEXT)} ${new Date(generatedAt).toISOString().slice(0, 16).replace("T", " ")} UTC.</p>
<p class="note">Read: ${read}${report.unreadable > 0 ? `; ${report.unreadable} unreadable left out` : ""}${
      report.placedBySorter > 0 ? `; ${report.placedBySorter} that the sorter put there left out (not your filing)` : ""
    }.</p>
${
    report.missing.length === 0 ? "" : `<p class="note">Not on the server (nothing to learn from): ${
      report.missing.map((m) => `${escapeHtml(m.path)} (${escapeHtml(labelName(m.label))})`).join(", ")
    }.</p>`
  }
${
    sharingText(report) === undefined ? "" : `<p class="note">${escapeHtml(sharingText(report) ?? "")}</p>`
  }
${
    report.calibrated ? "" : `<p><b>${escapeHtml(calibrationText(report) ?? "")}</b></p>`
  }
<div class="summary">
<div class="figure">Accuracy with everything moved<b>${percent(evaluation.accuracy)}</b>${evaluation.right} of ${evaluation.total} top guesses right</div>
<div class="figure">Coverage at your thresholds<b>${percent(atThresholds.coverage)}</b>${atThresholds.moved} of ${evaluation.total} moved</div>
<div class="figure">Precision at your thresholds<b>${percent(atThresholds.precision)}</b>${atThresholds.right} of ${atThresholds.moved} moves right</div>
${
    report.llmAsksKept === true ? "" : `<div class="figure">With an LLM, left without asking it<b>${percent(evaluation.keptWithoutLlm.share)}</b>${escapeHtml(keptDetail(evaluation))}</div>\n`
  }</div>
<h2>Categories</h2>
<table>
<thead>
<tr><th></th><th></th><th></th><th colspan="2">everything moved</th><th colspan="4">at the category's threshold</th><th></th></tr>
<tr><th>category</th><th>folder</th><th>count</th><th>precision</th><th>recall</th><th>threshold</th><th>moved</th><th>precision</th><th>recall</th><th>lowest threshold under 1% misfiled</th></tr>
</thead>
<tbody>
${evaluation.categories.map((figures) => categoryRow(figures, report.categoryFolders.get(figures.label) ?? "")).join("\n")}
${staysRow(evaluation.stays)}
</tbody>
</table>
<h2>Confusion matrix</h2>
${matrixSvg(evaluation)}
<h2>Precision against coverage</h2>
<p class="note">One confidence threshold for every category, swept from the most confident guess down: further right, more mail moves; lower, more of it lands in the wrong place.</p>
${curveSvg(evaluation)}
<h2>Most frequent confusions</h2>
${confusions}
<p class="note">count: test messages that belong there. Precision and recall under "everything moved" take the model's top guess whatever its confidence;
under "at the category's threshold", only what the sorter would move (confidence_threshold, and 0.99 at least for a spam folder).
A misfile is a message moved into a category it does not belong to; mail left where it is is not one.
(stays) is read mail kept in the source folders: right when the model would leave it there.</p>
</body>
</html>
`
}
