/**
 * The mailbox as an `effect/cluster` entity: one entity per account, its id the account name.
 * Its one message, `SortPass`, asks for the account's source folders to be sorted until nothing
 * is left. It is persisted (`ClusterSchema.Persisted`): the message is stored in Postgres before
 * it is delivered, and stays "unprocessed" until its reply is stored, so a runner that dies in
 * the middle of a pass leaves it to the next owner of the entity's shard, which runs it again.
 * Running it again is safe because a pass starts by settling the account's journal against the
 * server (src/pipeline/recover.ts): see docs/scale-out.md.
 *
 * `pass` names the request (its primary key): the same pass sent twice is one message.
 */
import { Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

export const PassDone = Schema.Struct({
  /** The runner that finished the pass (it may not be the one that began it). */
  runner: Schema.String,
  /** Messages this runner moved in this delivery of the pass. */
  moved: Schema.Number,
  /** Rounds of `sortMailbox` it took (MAX_EMAILS_PER_FOLDER messages each). */
  rounds: Schema.Number
})
export type PassDone = typeof PassDone.Type

export const SortPass = Rpc.make("SortPass", {
  payload: { pass: Schema.String },
  success: PassDone,
  error: Schema.String,
  primaryKey: (payload) => payload.pass
}).annotate(ClusterSchema.Persisted, true)

export const MailboxEntity = Entity.make("Mailbox", [SortPass])
