// Runs `frappe-tenant` for a server-side caller and hands back its one JSON object as a
// typed result. Every way a run can end (a success, the tool's own failure, a tool that
// could not start or printed no JSON, a timeout, an abort) is a value, never a throw, so
// a sign-up handler needs one `if` and one `switch`, not a try/catch around guesses.
import { randomBytes } from 'node:crypto'
import { type NoResult, noResult, type RunInfo, type RunOptions, runTool } from './run.js'
import type { ProvisionResult as Generated, VerifyResult as GeneratedVerify } from './types.js'

export type { NoResult, RunInfo, RunOptions } from './run.js'
// Everything the schemas declare, under whatever names the generator gave them.
export type * as Schema from './types.js'

/** The sign-up, sent as JSON on the tool's stdin (`--request -`). */
export interface ProvisionRequest {
  subdomain: string
  email: string
  fullName: string
  password: string
  organizationName: string
  /**
   * What Frappe's setup wizard is given (docs/first-login.md): a language code or name,
   * a country, time zone and currency as Frappe names them; each left out is the tool's
   * default. A value Frappe does not list is INVALID_INPUT with that `field`.
   */
  language?: string | undefined
  country?: string | undefined
  timezone?: string | undefined
  currency?: string | undefined
}

// Split by a field only one side has, and pin `success` to a literal, so these aliases
// hold whatever the generated members are called and even if a schema says `boolean`.
export type ProvisionSuccess = Extract<Generated, { apiKey: string }> & { success: true }
export type ProvisionFailure = Exclude<Generated, { apiKey: string }> & { success: false }
export type VerifyReport = Extract<GeneratedVerify, { checks: unknown }>

// If a schema change renamed `apiKey` or `checks`, the splits above would yield `never`
// and every use would still type-check; these fail `tsc` instead.
type NotNever<T> = [T] extends [never] ? false : true
const successIsATypeNotNever: NotNever<ProvisionSuccess> = true
const failureIsATypeNotNever: NotNever<ProvisionFailure> = true
const verifyIsATypeNotNever: NotNever<VerifyReport> = true
void successIsATypeNotNever
void failureIsATypeNotNever
void verifyIsATypeNotNever
/** What the tool prints on stdout. */
export type ProvisionResult = ProvisionSuccess | ProvisionFailure
export type FailureCode = ProvisionFailure['code']
export type Undo = ProvisionFailure['rollback'][number]
export type StepTiming = ProvisionSuccess['steps'][number]
export type SitePath = ProvisionSuccess['path']

export type ProvisionOutcome =
  | (ProvisionSuccess & RunInfo)
  | (ProvisionFailure & RunInfo)
  | NoResult

/** The six steps of a sign-up, as progress events name them. */
export type StepName =
  | 'create-site'
  | 'install-apps'
  | 'create-user'
  | 'subscription'
  | 'setup-wizard'
  | 'api-keys'

/**
 * One line of the tool's progress (`--progress json`, docs/json.md): a step starting, a
 * step done (steps 3 and 4 run concurrently, so both start before either is done), or any
 * other line it wrote.
 */
export type ProgressEvent =
  | { event: 'start'; step: StepName; n: number; of: number }
  | { event: 'done'; step: StepName; n: number; of: number; seconds: number }
  | { event: 'log'; message: string }

export interface ProvisionOptions extends RunOptions {
  /**
   * Milliseconds before the helper sends SIGTERM. Default 150 000: longer than the tool's
   * own deadline (PROVISION_TIMEOUT, default 120 s), so normally the tool times out first
   * and reports TIMEOUT itself; SIGTERM makes it roll back and report INTERRUPTED.
   */
  timeoutMs?: number | undefined
  /** Called for each progress line as it comes (the run then uses `--progress json`). */
  onProgress?: ((event: ProgressEvent) => void) | undefined
}

const PROVISION_TIMEOUT_MS = 150_000

export async function provisionTenant(
  request: ProvisionRequest,
  options: ProvisionOptions = {},
): Promise<ProvisionOutcome> {
  const { onProgress } = options
  const args = ['provision', '--request', '-']
  if (onProgress) args.push('--progress', 'json')
  // Only the request's fields: the tool refuses unknown ones, and a form object often has
  // more. Absent optional ones are left out (JSON.stringify drops undefined).
  const { subdomain, email, fullName, password, organizationName } = request
  const { language, country, timezone, currency } = request
  const stdin = JSON.stringify({
    subdomain,
    email,
    fullName,
    password,
    organizationName,
    language,
    country,
    timezone,
    currency,
  })
  const ran = await runTool(args, stdin, options, PROVISION_TIMEOUT_MS, onProgress && ((l) => onProgress(progressEvent(l))))
  const result = asProvisionResult(ran.json)
  return result ? { ...result, ...ran.info } : noResult(ran)
}

/** A stderr line as a progress event: the tool's own JSON, or any other line as a log. */
export function progressEvent(line: string): ProgressEvent {
  try {
    const v: unknown = JSON.parse(line)
    if (typeof v === 'object' && v !== null) {
      const e = v as Record<string, unknown>
      const step = typeof e.step === 'string' && typeof e.n === 'number' && typeof e.of === 'number'
      if (e.event === 'start' && step) return v as ProgressEvent
      if (e.event === 'done' && step && typeof e.seconds === 'number') return v as ProgressEvent
      if (e.event === 'log' && typeof e.message === 'string') return v as ProgressEvent
    }
  } catch {
    // Not JSON: a line of the tool's logs (RUST_LOG), or of a panic.
  }
  return { event: 'log', message: line }
}

function asProvisionResult(v: Record<string, unknown> | undefined): ProvisionResult | undefined {
  if (v?.success === true && typeof v.site === 'string' && typeof v.apiKey === 'string') {
    return v as unknown as ProvisionSuccess
  }
  return asFailure(v) as ProvisionFailure | undefined
}

function asFailure(v: Record<string, unknown> | undefined): ProvisionFailure | undefined {
  if (v?.success === false && typeof v.code === 'string' && typeof v.error === 'string') {
    return v as unknown as ProvisionFailure
  }
  return undefined
}

/**
 * Whether a subdomain can be signed up now: `free`, `taken` (a site or a live registry
 * row has it), `busy` (a sign-up for it is under way), `invalid` (`reason` says why, for a
 * person), or `unknown` when the check itself failed (`outcome` says why). Free now is no
 * reservation: the sign-up decides.
 */
export type SubdomainCheck =
  | { status: 'free'; subdomain: string; site: string; reason: string; path: SitePath }
  | { status: 'taken' | 'busy' | 'invalid'; subdomain: string; site: string; reason: string }
  | {
      status: 'unknown'
      subdomain: string
      site: string
      reason: string
      outcome: (ProvisionFailure & RunInfo) | NoResult
    }

const CHECK_TIMEOUT_MS = 30_000

/**
 * Asks `provision --dry-run` about `subdomain`: it validates, reads the bench and MariaDB,
 * and changes nothing. The rest of the sign-up is a stand-in that passes validation
 * (its password random, on stdin), so only the subdomain can be refused.
 */
export async function checkSubdomain(
  subdomain: string,
  options: RunOptions = {},
): Promise<SubdomainCheck> {
  const stdin = JSON.stringify({
    subdomain,
    email: 'subdomain-check@example.com',
    fullName: 'Subdomain Check',
    password: `${randomBytes(18).toString('base64url')}aA1`,
    organizationName: 'Subdomain Check',
  })
  const ran = await runTool(['provision', '--dry-run', '--request', '-'], stdin, options, CHECK_TIMEOUT_MS)
  const v = ran.json
  if (v?.success === true && v.dryRun === true && typeof v.site === 'string') {
    const path = v.path as SitePath
    return { status: 'free', subdomain, site: v.site, path, reason: `${v.site} is free` }
  }
  const failure = asFailure(v)
  if (!failure) return { status: 'unknown', subdomain, site: '', reason: ran.why, outcome: noResult(ran) }
  const said = { subdomain, site: failure.site, reason: failure.error }
  switch (failure.code) {
    case 'SITE_EXISTS':
      return { status: 'taken', ...said }
    case 'SITE_BUSY':
      return { status: 'busy', ...said }
    case 'INVALID_INPUT':
      if (failure.field === 'subdomain') return { status: 'invalid', ...said }
  }
  return { status: 'unknown', ...said, outcome: { ...failure, ...ran.info } }
}

export interface VerifyOptions extends RunOptions {
  /** The tenant user to check (default: the registry's, else the site's first System Manager). */
  email?: string | undefined
  /** With `apiSecret`: prove the keys with one authenticated REST call. */
  apiKey?: string | undefined
  /** Sent in the tool's environment (TENANT_API_SECRET), never in argv. */
  apiSecret?: string | undefined
  /** Default 90 000: after the tool's own 60 s for all checks. */
  timeoutMs?: number | undefined
}

export type VerifyOutcome = (VerifyReport & RunInfo) | (ProvisionFailure & RunInfo) | NoResult

const VERIFY_TIMEOUT_MS = 90_000

/**
 * `frappe-tenant verify <site>`: every check of one tenant, each with what it found.
 * `success` is whether all passed (exit code 5 when one failed); a failure object when
 * the checks could not run (MariaDB unreachable, an invalid site name).
 */
export async function verifyTenant(site: string, options: VerifyOptions = {}): Promise<VerifyOutcome> {
  const args = ['verify', site]
  if (options.email !== undefined) args.push('--email', options.email)
  const env = { ...(options.env ?? process.env) }
  // The tool takes the secret only with the key: a stray one in the environment is dropped.
  delete env.TENANT_API_SECRET
  if (options.apiKey !== undefined && options.apiSecret !== undefined) {
    args.push('--api-key', options.apiKey)
    env.TENANT_API_SECRET = options.apiSecret
  }
  const ran = await runTool(args, '', { ...options, env }, VERIFY_TIMEOUT_MS)
  const v = ran.json
  if (typeof v?.success === 'boolean' && Array.isArray(v.checks) && typeof v.site === 'string') {
    return { ...(v as unknown as VerifyReport), ...ran.info }
  }
  const failure = asFailure(v)
  return failure ? { ...failure, ...ran.info } : noResult(ran)
}
