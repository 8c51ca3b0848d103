// The helper against stand-in programs instead of the tool: what it sends, and every way
// a run can end without the tool's JSON. Needs nothing but Node, so `npm test` runs it.
import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { provisionTenant, type ProvisionRequest } from '../src/index.js'

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
