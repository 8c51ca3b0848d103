// Runs `frappe-tenant provision` for a server-side caller and hands back its one JSON
// object as a typed result. Every way the run can end (a success, the tool's own failure,
// a tool that could not start or printed no JSON, a timeout) is a value, never a throw,
// so a sign-up handler needs one `if` and one `switch`, not a try/catch around guesses.
import { type ChildProcess, execFile } from 'node:child_process'
import type { ProvisionResult as Generated } from './types.js'

// Everything the schemas declare, under whatever names the generator gave them.
export type * as Schema from './types.js'

/** The sign-up, sent as JSON on the tool's stdin (`--request -`). */
export interface ProvisionRequest {
  subdomain: string
  email: string
  fullName: string
  password: string
  organizationName: string
}

// Split by a field only one side has, and pin `success` to a literal, so these aliases
// hold whatever the generated members are called and even if a schema says `boolean`.
export type ProvisionSuccess = Extract<Generated, { apiKey: string }> & { success: true }
export type ProvisionFailure = Exclude<Generated, { apiKey: string }> & { success: false }

// If a schema change renamed `apiKey`, the split above would yield `never` and every use
// would still type-check; these fail `tsc` instead.
type NotNever<T> = [T] extends [never] ? false : true
const successIsATypeNotNever: NotNever<ProvisionSuccess> = true
const failureIsATypeNotNever: NotNever<ProvisionFailure> = true
void successIsATypeNotNever
void failureIsATypeNotNever
/** What the tool prints on stdout. */
export type ProvisionResult = ProvisionSuccess | ProvisionFailure
export type FailureCode = ProvisionFailure['code']
export type Undo = ProvisionFailure['rollback'][number]
export type StepTiming = ProvisionSuccess['steps'][number]
export type SitePath = ProvisionSuccess['path']

/** How the process ended, next to whatever it printed. */
export interface RunInfo {
  /** 0 success, 1 failed untouched, 2 invalid input, 3 rolled back, 4 rollback incomplete (README "Exit codes"); null when it never ran or was killed. */
  exitCode: number | null
  signal: NodeJS.Signals | null
  /** The helper's timeout fired and sent SIGTERM; the tool's JSON (if any) says what it undid. */
  timedOut: boolean
  /** The tool's progress and error lines, for logs. Never holds a secret. */
  stderr: string
}

/** The tool could not be started, or ended without printing its JSON. */
export interface NoResult extends RunInfo {
  success: false
  code: 'NO_RESULT'
  error: string
  /** Unknown: the tool never said which site it worked on. */
  site: ''
  stdout: string
}

export type ProvisionOutcome =
  | (ProvisionSuccess & RunInfo)
  | (ProvisionFailure & RunInfo)
  | NoResult

export interface ProvisionOptions {
  /** Path of the binary, or a name looked up on PATH. Default `frappe-tenant`. */
  bin?: string | undefined
  /**
   * Milliseconds before the helper sends SIGTERM. Default 150 000: longer than the tool's
   * own deadline (PROVISION_TIMEOUT, default 120 s), so normally the tool times out first
   * and reports TIMEOUT itself; SIGTERM makes it roll back and report INTERRUPTED.
   */
  timeoutMs?: number | undefined
  /** Milliseconds the rollback may take after SIGTERM before SIGKILL. Default 60 000. */
  killGraceMs?: number | undefined
  /** The tool's environment (FRAPPE_URL, MARIADB_URL, …). Default: this process's. */
  env?: NodeJS.ProcessEnv | undefined
  cwd?: string | undefined
}

const DEFAULT_TIMEOUT_MS = 150_000
const DEFAULT_KILL_GRACE_MS = 60_000
// RUST_LOG=trace can write a lot to stderr; execFile kills the child past this.
const MAX_BUFFER = 64 * 1024 * 1024

export function provisionTenant(
  request: ProvisionRequest,
  options: ProvisionOptions = {},
): Promise<ProvisionOutcome> {
  const bin = options.bin ?? 'frappe-tenant'
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new Promise((resolve) => {
    let timedOut = false
    let timer: NodeJS.Timeout | undefined
    let killTimer: NodeJS.Timeout | undefined
    const noResult = (error: string, stdout: string, info: RunInfo): NoResult => ({
      success: false,
      code: 'NO_RESULT',
      error,
      site: '',
      stdout,
      ...info,
    })
    let child: ChildProcess
    try {
      child = execFile(
        bin,
        ['provision', '--request', '-'],
        {
          encoding: 'utf8',
          maxBuffer: MAX_BUFFER,
          env: options.env ?? process.env,
          cwd: options.cwd,
        },
        (err, stdout, stderr) => {
          clearTimeout(timer)
          clearTimeout(killTimer)
          const info: RunInfo = {
            exitCode: child.exitCode,
            signal: child.signalCode,
            timedOut,
            stderr,
          }
          if (err && (err as NodeJS.ErrnoException).syscall?.startsWith('spawn')) {
            // Node puts the errno (-2 for ENOENT) in exitCode; nothing ever exited.
            const never = { ...info, exitCode: null, signal: null }
            return resolve(noResult(`could not start ${bin}: ${err.message}`, stdout, never))
          }
          const result = parseResult(stdout)
          if (result) return resolve({ ...result, ...info })
          const how = timedOut
            ? `timed out after ${timeoutMs} ms`
            : info.signal
              ? `killed by ${info.signal}`
              : `exit code ${info.exitCode}`
          resolve(noResult(`${bin} printed no JSON result (${how})`, stdout, info))
        },
      )
    } catch (e) {
      // execFile throws synchronously for arguments it refuses (e.g. a NUL in the path).
      const info: RunInfo = { exitCode: null, signal: null, timedOut: false, stderr: '' }
      return resolve(noResult(`could not start ${bin}: ${(e as Error).message}`, '', info))
    }
    timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGTERM')
      killTimer = setTimeout(
        () => child.kill('SIGKILL'),
        options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      )
    }, timeoutMs)
    // A tool that exits before reading stdin (or never starts) breaks the pipe; its
    // outcome is reported by the callback above, so the write error itself carries nothing.
    child.stdin?.on('error', () => {})
    // Only the five fields: the tool refuses unknown ones, and a form object often has more.
    const { subdomain, email, fullName, password, organizationName } = request
    child.stdin?.end(JSON.stringify({ subdomain, email, fullName, password, organizationName }))
  })
}

/** The tool's one JSON object, or undefined when stdout is anything else. */
function parseResult(stdout: string): ProvisionResult | undefined {
  let value: unknown
  try {
    value = JSON.parse(stdout)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  if (v.success === true && typeof v.site === 'string' && typeof v.apiKey === 'string') {
    return value as ProvisionSuccess
  }
  if (v.success === false && typeof v.code === 'string' && typeof v.error === 'string') {
    return value as ProvisionFailure
  }
  return undefined
}
