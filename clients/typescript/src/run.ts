// Runs the tool once: argv without a secret, what it needs on stdin, a deadline and an
// AbortSignal that both stop it the way Ctrl-C does (SIGTERM: it rolls back and still
// prints its JSON), then SIGKILL after a grace period. Its stderr lines are handed over
// as they come, for a progress bar; its stdout is the one JSON object, parsed at the end.
import { type ChildProcess, spawn } from 'node:child_process'

/** How the process ended, next to whatever it printed. */
export interface RunInfo {
  /** 0 success, 1 failed untouched, 2 invalid input, 3 rolled back, 4 rollback incomplete, 5 a verify check failed (README "Exit codes"); null when it never ran or was killed. */
  exitCode: number | null
  signal: NodeJS.Signals | null
  /** The helper's timeout fired and sent SIGTERM; the tool's JSON (if any) says what it undid. */
  timedOut: boolean
  /** `options.signal` was aborted and the helper sent SIGTERM (or never started the tool). */
  aborted: boolean
  /** The tool's progress and error lines, for logs (the last 1 MiB). Never holds a secret. */
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

/** What every call takes. */
export interface RunOptions {
  /** Path of the binary, or a name looked up on PATH. Default `frappe-tenant`. */
  bin?: string | undefined
  /** Milliseconds before the helper sends SIGTERM (each call has its own default). */
  timeoutMs?: number | undefined
  /** Milliseconds the rollback may take after SIGTERM before SIGKILL. Default 60 000. */
  killGraceMs?: number | undefined
  /**
   * Stops the run as SIGTERM does: a sign-up rolls back what it made and still answers
   * (code `INTERRUPTED`). Pass a route handler's `request.signal` so a browser that went
   * away stops its sign-up.
   */
  signal?: AbortSignal | undefined
  /** The tool's environment (FRAPPE_URL, MARIADB_URL, …). Default: this process's. */
  env?: NodeJS.ProcessEnv | undefined
  cwd?: string | undefined
}

export interface Ran {
  info: RunInfo
  stdout: string
  /** The one JSON object stdout held, if it held one. */
  json: Record<string, unknown> | undefined
  /** Why there is no JSON object, when there is none. */
  why: string
}

const DEFAULT_KILL_GRACE_MS = 60_000
// The result is one line of a few hundred bytes; RUST_LOG=trace can write a lot to stderr,
// of which the end says the most.
const MAX_STDOUT = 16 * 1024 * 1024
const MAX_STDERR = 1024 * 1024

export function runTool(
  args: string[],
  stdin: string,
  options: RunOptions,
  defaultTimeoutMs: number,
  onLine?: (line: string) => void,
): Promise<Ran> {
  const bin = options.bin ?? 'frappe-tenant'
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs
  const empty: RunInfo = { exitCode: null, signal: null, timedOut: false, aborted: false, stderr: '' }
  if (options.signal?.aborted) {
    // Nothing was started, so nothing needs undoing.
    const info = { ...empty, aborted: true }
    return Promise.resolve({ info, stdout: '', json: undefined, why: `aborted before ${bin} started` })
  }
  return new Promise((resolve) => {
    let child: ChildProcess
    try {
      child = spawn(bin, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    } catch (e) {
      // spawn throws synchronously for arguments it refuses (e.g. a NUL in the path).
      return resolve({ info: empty, stdout: '', json: undefined, why: `could not start ${bin}: ${(e as Error).message}` })
    }
    let stdout = ''
    let stderr = ''
    let partial = ''
    let timedOut = false
    let aborted = false
    let settled = false
    let killTimer: NodeJS.Timeout | undefined
    const stop = () => {
      if (killTimer || child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      killTimer = setTimeout(() => child.kill('SIGKILL'), options.killGraceMs ?? DEFAULT_KILL_GRACE_MS)
    }
    const timer = setTimeout(() => {
      timedOut = true
      stop()
    }, timeoutMs)
    const onAbort = () => {
      aborted = true
      stop()
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const line = (l: string) => {
      if (!onLine) return
      try {
        onLine(l)
      } catch {
        // A progress callback that throws must not stop a sign-up midway.
      }
    }
    const settle = (ran: Ran) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(killTimer)
      options.signal?.removeEventListener('abort', onAbort)
      if (partial) line(partial)
      partial = ''
      resolve(ran)
    }
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      if (stdout.length < MAX_STDOUT) stdout += chunk
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk
      if (stderr.length > 2 * MAX_STDERR) stderr = stderr.slice(-MAX_STDERR)
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) line(l)
    })
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (!err.syscall?.startsWith('spawn')) return
      settle({ info: empty, stdout, json: undefined, why: `could not start ${bin}: ${err.message}` })
    })
    child.on('close', (code, signal) => {
      const info: RunInfo = {
        exitCode: code,
        signal,
        timedOut,
        aborted,
        stderr: stderr.length > MAX_STDERR ? stderr.slice(-MAX_STDERR) : stderr,
      }
      const json = parseObject(stdout)
      const how = timedOut
        ? `timed out after ${timeoutMs} ms`
        : aborted
          ? 'aborted'
          : signal
            ? `killed by ${signal}`
            : `exit code ${code}`
      settle({ info, stdout, json, why: `${bin} printed no JSON result (${how})` })
    })
    // A tool that exits before reading stdin (or never starts) breaks the pipe; its
    // outcome is reported above, so the write error itself carries nothing.
    child.stdin?.on('error', () => {})
    child.stdin?.end(stdin)
  })
}

/** The tool's one JSON object, or undefined when stdout is anything else. */
function parseObject(stdout: string): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(stdout)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  return value as Record<string, unknown>
}

/** A run with no JSON object, as the value every call returns for it. */
export function noResult(ran: Ran): NoResult {
  return { success: false, code: 'NO_RESULT', error: ran.why, site: '', stdout: ran.stdout, ...ran.info }
}
