/**
 * ProtonLumoAI as a library: the pipeline and its services, to run inside another Effect
 * program with its own layers (see README, "Use it from your own Effect program").
 */
export * from "./domain/Category.ts"
export * from "./domain/ClassifierStats.ts"
export * from "./domain/Email.ts"
export * from "./domain/Errors.ts"
export * from "./domain/Folders.ts"
export { fromSequenceSet, toSequenceSet } from "./domain/UidSet.ts"

export { Categories, type CategoriesApi, loadCategories, makeCategories } from "./services/Categories.ts"
export { Classifier, type ClassifierApi } from "./services/Classifier.ts"
export { fold } from "./classify/text.ts"
export { extractFeatures, type Features } from "./classify/features.ts"
export {
  defaultFolderModelOptions,
  type Example,
  type FolderGuess,
  FolderModel,
  type FolderModelOptions,
  type FolderModelState,
  STAY
} from "./classify/FolderModel.ts"
export * as LearnedClassifier from "./services/LearnedClassifier.ts"
export {
  type Correction,
  type CorrectionKind,
  type HeldExample,
  LearnedModel,
  type LearnedModelApi,
  type LearnedRecord,
  type LearningUpdate,
  type Lesson
} from "./services/LearnedModel.ts"
export { KEYWORD_CLASSIFIER, keywordClassifier } from "./services/KeywordClassifier.ts"
export {
  answerSchema,
  extractAnswerItems,
  looksLikeInjection,
  makeLlmClassifier,
  systemPrompt,
  userPrompt
} from "./services/LlmClassifier.ts"
export {
  type ChatAnswer,
  ChatCompletions,
  type ChatCompletionsApi,
  ChatError,
  ChatKeyRefused,
  estimateRequestTokens,
  type ChatRequest,
  type ChatStats,
  MAX_ANSWER_BYTES,
  parseRetryAfter
} from "./services/ChatCompletions.ts"
export { cacheKey, ClassificationCache, type ClassificationCacheApi } from "./services/ClassificationCache.ts"
export { LlmBudget, type LlmBudgetApi, type Reservation } from "./services/LlmBudget.ts"
export {
  type FolderInfo,
  type ImapOptions,
  Mailbox,
  type MailboxApi,
  type MessageKey,
  type MovedMessage,
  type MoveReceipt,
  type UidSearch
} from "./services/Mailbox.ts"
export {
  type MemoryCommand,
  MemoryMailbox,
  type MemoryMailboxApi,
  type MemoryMailboxOptions,
  type StoredMessage
} from "./services/MemoryMailbox.ts"
export { MailWatch, type MailWatchApi, POLL_EVERY, type WatcherConnection } from "./services/MailWatch.ts"
export * from "./domain/WatchPlan.ts"
export { makeThreadPool, MessageParser, type MessageParserApi } from "./services/MessageParser.ts"
export * from "./services/Settings.ts"
export { type Retrying, retryDelayMillis, SortState, type SortStateApi } from "./services/SortState.ts"
export { type FolderPass, PassLog, type PassLogApi, type PassRecord } from "./services/PassLog.ts"
export { readStatus, StatusDocument } from "./pipeline/status.ts"
export { Database, type DatabaseApi } from "./services/Database.ts"
export { DataFolderBusy, DataLock } from "./services/DataLock.ts"
export {
  configuredClassifier,
  evaluationLayer,
  fileStorage,
  llmClassifier,
  sorterLayer,
  type SorterParts,
  type SorterServicesOf,
  statusStorage
} from "./layers.ts"
export * from "./domain/FolderNames.ts"
export { FINGERPRINT_BYTES, fingerprint } from "./domain/Fingerprint.ts"
export { escapeControls } from "./domain/Terminal.ts"
export {
  Journal,
  type JournalAction,
  type JournalApi,
  type JournalEntry,
  type JournalQuery,
  type JournalState,
  type NewJournalEntry,
  type Settlement
} from "./services/Journal.ts"

export { classifyStage, decide } from "./pipeline/classify.ts"
export { fetchStage, type FolderAbort, isFolderAbort } from "./pipeline/fetch.ts"
export { formatMetrics } from "./pipeline/metrics.ts"
export { moveStage } from "./pipeline/move.ts"
export { parseStage } from "./pipeline/parse.ts"
export { htmlToText, MAX_BODY_CHARS, readMessage, type ReadResult } from "./mime/readMessage.ts"
export { type FolderReport, makeReporter, type Reporter, type Tally } from "./pipeline/report.ts"
export { runService } from "./pipeline/service.ts"
export { newRunId, sortFolder } from "./pipeline/sortFolder.ts"
export { type FolderProblem, type PassReport, sortMailbox, sourceProblem } from "./pipeline/sortMailbox.ts"
export { recoverFolder } from "./pipeline/recover.ts"
export { undo, type UndoReport } from "./pipeline/undo.ts"
export { formatHistory } from "./pipeline/history.ts"
export { correctionRate, learnFromFolders, type LearnReport, returnedByUser } from "./pipeline/learn.ts"
export { evaluateMailbox, type EvaluatedFolder, type EvaluationReport, TRAIN_SHARE } from "./pipeline/evaluate.ts"
export * from "./classify/evaluation.ts"
export { evaluationPage } from "./cli/evaluationPage.ts"
export { formatEvaluation } from "./cli/evaluationText.ts"
