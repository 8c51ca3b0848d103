// The helper against stand-in programs instead of the tool: what it sends, and every way
// a run can end without the tool's JSON. Needs nothing but Node, so `npm test` runs it.
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  checkSubdomain,
  type ProgressEvent,
  provisionTenant,
  type ProvisionRequest,
  verifyTenant,
} from '../src/index.js'

const req: ProvisionRequest = {
  subdomain: 'acme',
  email: 'jane@acme.com',
  fullName: 'Jane Roe',
  password: 'Tr1cky-Lantern-42',
  organizationName: 'Acme Inc',
}

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-client-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

test('the request goes on stdin and argv holds no secret', async () => {
  const bin = await script(
    'record',
    `printf '%s\\n' "$@" > "${dir}/argv"; cat > "${dir}/stdin"
echo '{"success":false,"error":"recorded","site":"","code":"CONFIG_ERROR","rollback":[],"warnings":[],"elapsed":0}'
exit 1`,
  )
  const r = await provisionTenant(req, { bin })
  assert.deepEqual(await readFile(join(dir, 'argv'), 'utf8'), 'provision\n--request\n-\n')
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'stdin'), 'utf8')), req)
  assert.ok(!r.success && r.code === 'CONFIG_ERROR' && r.exitCode === 1, JSON.stringify(r))
})

test('a binary that does not exist is NO_RESULT, not a throw', async () => {
  const r = await provisionTenant(req, { bin: join(dir, 'missing') })
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
  assert.equal(r.exitCode, null)
  assert.match(r.error, /could not start .*ENOENT/)
})

test('a path execFile refuses is NO_RESULT, not a throw', async () => {
  const r = await provisionTenant(req, { bin: 'frappe\0tenant' })
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
})

test('stdout that is not the JSON object is NO_RESULT with what was printed', async () => {
  for (const out of ['Traceback: boom', '[1,2]', '{"success":"yes"}', '']) {
    const bin = await script('noise', `cat >/dev/null; printf '%s' '${out}'`)
    const r = await provisionTenant(req, { bin })
    assert.ok(!r.success && r.code === 'NO_RESULT', `${out}: ${JSON.stringify(r)}`)
    assert.equal(r.stdout, out)
    assert.equal(r.exitCode, 0)
  }
})

test('a program that exits without reading stdin is reported, not an EPIPE crash', async () => {
  const bin = await script('early', 'echo gone >&2; exit 7')
  const r = await provisionTenant({ ...req, fullName: 'x'.repeat(1 << 20) }, { bin })
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
  assert.equal(r.exitCode, 7)
  assert.equal(r.stderr, 'gone\n')
})

test('on timeout a silent program gets SIGTERM and the outcome says it timed out', async () => {
  const bin = await script('slow', 'exec sleep 30')
  const started = Date.now()
  const r = await provisionTenant(req, { bin, timeoutMs: 300 })
  assert.ok(Date.now() - started < 10_000)
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
  assert.equal(r.timedOut, true)
  assert.equal(r.signal, 'SIGTERM')
})

test('a program that ignores SIGTERM is killed after the grace period', async () => {
  const bin = await script('stubborn', "trap '' TERM; exec sleep 30")
  const started = Date.now()
  const r = await provisionTenant(req, { bin, timeoutMs: 300, killGraceMs: 500 })
  assert.ok(Date.now() - started < 10_000)
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
  assert.equal(r.signal, 'SIGKILL')
})

const failure = (code: string, extra = '') =>
  `{"success":false,"error":"said","site":"acme.localhost","code":"${code}"${extra},"rollback":[],"warnings":[],"elapsed":0}`

test('onProgress gets each stderr line as it comes, typed, and the run asks for JSON progress', async () => {
  const bin = await script(
    'progress',
    `printf '%s\\n' "$@" > "${dir}/argv"; cat >/dev/null
echo '{"event":"start","step":"create-site","n":1,"of":5}' >&2
sleep 0.5
echo 'a line of logs' >&2
echo '{"event":"done","step":"create-site","n":1,"of":5,"seconds":0.5}' >&2
echo '{"event":"log","message":"✓ made"}' >&2
printf 'no newline at the end' >&2
echo '${failure('CONFIG_ERROR')}'; exit 1`,
  )
  const events: [ProgressEvent, number][] = []
  const started = Date.now()
  const r = await provisionTenant(req, { bin, onProgress: (e) => events.push([e, Date.now() - started]) })
  const ended = Date.now() - started
  assert.equal(await readFile(join(dir, 'argv'), 'utf8'), 'provision\n--request\n-\n--progress\njson\n')
  assert.deepEqual(
    events.map(([e]) => e),
    [
      { event: 'start', step: 'create-site', n: 1, of: 5 },
      { event: 'log', message: 'a line of logs' },
      { event: 'done', step: 'create-site', n: 1, of: 5, seconds: 0.5 },
      { event: 'log', message: '✓ made' },
      { event: 'log', message: 'no newline at the end' },
    ],
  )
  // Live, not replayed at the end: the first event came while the program still slept.
  assert.ok(events[0]![1] < ended - 300, `first event at ${events[0]![1]} ms, end at ${ended} ms`)
  assert.ok(!r.success && r.code === 'CONFIG_ERROR', JSON.stringify(r))
  assert.match(r.stderr, /a line of logs/)
})

test('an onProgress that throws does not stop the run', async () => {
  const bin = await script(
    'progress-throws',
    `cat >/dev/null; echo '{"event":"start","step":"create-site","n":1,"of":5}' >&2; echo '${failure('CONFIG_ERROR')}'; exit 1`,
  )
  let calls = 0
  const r = await provisionTenant(req, {
    bin,
    onProgress: () => {
      calls += 1
      throw new Error('a broken progress bar')
    },
  })
  assert.equal(calls, 1)
  assert.ok(!r.success && r.code === 'CONFIG_ERROR', JSON.stringify(r))
})

test('an aborted signal sends SIGTERM, and the answer the program gives is the outcome', async () => {
  // As the tool does: SIGTERM makes it roll back and still print its JSON.
  const bin = await script(
    'interruptible',
    `trap 'kill $pid; echo "${failure('INTERRUPTED', ',"step":"create-user"').replaceAll('"', '\\"')}"; exit 3' TERM
cat >/dev/null; sleep 30 & pid=$!; wait`,
  )
  const abort = new AbortController()
  setTimeout(() => abort.abort(), 300)
  const started = Date.now()
  const r = await provisionTenant(req, { bin, signal: abort.signal })
  assert.ok(Date.now() - started < 10_000)
  assert.ok(!r.success && r.code === 'INTERRUPTED', JSON.stringify(r))
  assert.equal(r.aborted, true)
  assert.equal(r.timedOut, false)
  assert.equal(r.exitCode, 3)
})

test('a signal aborted before the call starts nothing', async () => {
  const bin = await script('never', `touch "${dir}/started"; exit 0`)
  const r = await provisionTenant(req, { bin, signal: AbortSignal.abort() })
  assert.ok(!r.success && r.code === 'NO_RESULT', JSON.stringify(r))
  assert.equal(r.aborted, true)
  await assert.rejects(readFile(join(dir, 'started')), /ENOENT/)
})

test('checkSubdomain asks a dry run, with a random stand-in password, and reads its answer', async () => {
  const bin = await script(
    'dry-run',
    `printf '%s\\n' "$@" > "${dir}/argv"; cat >> "${dir}/stdin-lines"; echo >> "${dir}/stdin-lines"; printf '%s' "$OUT"`,
  )
  const ask = async (out: string) => checkSubdomain('acme', { bin, env: { ...process.env, OUT: out } })
  const free = await ask('{"success":true,"dryRun":true,"site":"acme.localhost","path":"fresh","apps":[],"steps":[],"warnings":[],"elapsed":0.1,"passwordPolicy":{"enabled":false,"minimumScore":2}}')
  assert.deepEqual(free, { status: 'free', subdomain: 'acme', site: 'acme.localhost', path: 'fresh', reason: 'acme.localhost is free' })
  assert.equal(await readFile(join(dir, 'argv'), 'utf8'), 'provision\n--dry-run\n--request\n-\n')
  assert.equal((await ask(failure('SITE_EXISTS'))).status, 'taken')
  assert.equal((await ask(failure('SITE_BUSY'))).status, 'busy')
  const invalid = await ask(failure('INVALID_INPUT', ',"field":"subdomain"'))
  assert.deepEqual(invalid, { status: 'invalid', subdomain: 'acme', site: 'acme.localhost', reason: 'said' })
  // Refused for anything but the subdomain, or not answered: the check could not tell.
  assert.equal((await ask(failure('INVALID_INPUT', ',"field":"password"'))).status, 'unknown')
  assert.equal((await ask(failure('DB_UNAVAILABLE'))).status, 'unknown')
  const none = await ask('Traceback')
  assert.ok(none.status === 'unknown' && none.outcome.code === 'NO_RESULT', JSON.stringify(none))
  const sent = (await readFile(join(dir, 'stdin-lines'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(sent[0].subdomain, 'acme')
  assert.notEqual(sent[0].password, sent[1].password, 'a stand-in password is never reused')
})

test('verifyTenant puts the API secret in the environment, never in argv', async () => {
  const bin = await script(
    'verify',
    `printf '%s\\n' "$@" > "${dir}/argv"; printf '%s' "\${TENANT_API_SECRET-unset}" > "${dir}/secret"
echo '{"success":false,"site":"acme.localhost","dbName":"ft_1","checks":[{"name":"token-auth","ok":false,"detail":"HTTP 401"}],"elapsed":0.2}'; exit 5`,
  )
  const r = await verifyTenant('acme', { bin, email: 'jane@acme.com', apiKey: 'k1', apiSecret: 's3cret-value' })
  assert.equal(await readFile(join(dir, 'argv'), 'utf8'), 'verify\nacme\n--email\njane@acme.com\n--api-key\nk1\n')
  assert.equal(await readFile(join(dir, 'secret'), 'utf8'), 's3cret-value')
  assert.ok('checks' in r && r.success === false && r.exitCode === 5, JSON.stringify(r))
  assert.deepEqual(r.checks, [{ name: 'token-auth', ok: false, detail: 'HTTP 401' }])
  // Without a key, a secret left in the caller's environment does not reach the tool.
  await verifyTenant('acme', { bin, env: { ...process.env, TENANT_API_SECRET: 'stray' } })
  assert.equal(await readFile(join(dir, 'argv'), 'utf8'), 'verify\nacme\n')
  assert.equal(await readFile(join(dir, 'secret'), 'utf8'), 'unset')
})
