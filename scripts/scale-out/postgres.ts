/**
 * A private PostgreSQL cluster for the scale-out spike: `initdb` in a fresh temporary folder,
 * `pg_ctl start` listening on 127.0.0.1 only (on a port that was free a moment ago; its Unix
 * socket in that folder too, never in /var/run), trust authentication for the local superuser
 * `postgres`, and `pg_ctl stop -m immediate` plus the folder's removal at the end. Nothing in
 * /etc is read or written and no system service is started.
 *
 * The binaries come from Debian's packages (`apt-get install -y postgresql`): they live in
 * /usr/lib/postgresql/<version>/bin, which is not on the PATH. As root, the cluster is made and
 * run as the `postgres` user the package creates (initdb refuses to run as root).
 */
import { execFile } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { chown, mkdtemp, rm } from "node:fs/promises"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { freePort } from "../../test/support/dovecot.ts"

const run = promisify(execFile)

export interface PrivatePostgres {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly user: "postgres"
  readonly database: "postgres"
  /** The cluster's folder (data, socket, log); removed by `stop`. */
  readonly dir: string
  readonly stop: () => Promise<void>
}

/** The newest installed version's bin folder, or undefined when PostgreSQL is not installed. */
export const postgresBinDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a))
  const newest = versions[0]
  return newest === undefined ? undefined : join(root, newest, "bin")
}

/** The uid and gid of the `postgres` user, from `id` (there when the Debian package is installed). */
const postgresUser = async (): Promise<{ readonly uid: number; readonly gid: number }> => {
  const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim())
  const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim())
  return { uid, gid }
}

export const startPostgres = async (): Promise<PrivatePostgres> => {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error("PostgreSQL is not installed: apt-get install -y postgresql")
  const asRoot = userInfo().uid === 0
  // As root every command runs as `postgres`; otherwise as whoever runs the script.
  const command = (program: string, args: ReadonlyArray<string>) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", join(bin, program), ...args])
      : run(join(bin, program), [...args])
  const dir = await mkdtemp(join(tmpdir(), "plai-pg-"))
  const data = join(dir, "data")
  const stop = async () => {
    await command("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
  }
  try {
    if (asRoot) {
      const owner = await postgresUser()
      await chown(dir, owner.uid, owner.gid)
    }
    await command("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
    for (let attempt = 0; ; attempt++) {
      const port = await freePort()
      const options = [
        "-c listen_addresses=127.0.0.1",
        `-c port=${port}`,
        `-c unix_socket_directories=${dir}`,
        "-c max_connections=200"
      ].join(" ")
      try {
        await command("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "postgres.log"), "-w", "-t", "30", "start"])
        return { host: "127.0.0.1", port, user: "postgres", database: "postgres", dir, stop }
      } catch (error) {
        // The port may have been taken between freePort and the server's bind: another one.
        if (attempt >= 2) throw error
      }
    }
  } catch (error) {
    await stop()
    throw error
  }
}
