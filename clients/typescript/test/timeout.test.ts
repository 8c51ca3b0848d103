import assert from 'node:assert/strict'
import { test } from 'node:test'
import { provisionTenant } from '../src/index.js'
import { bin, request, show } from './case.js'

// The harness makes create-user hang and leaves the tool's own deadline at 60 s, so the
// helper's timeout fires first.
test("the helper's timeout sends SIGTERM; the tool rolls back and says so", async () => {
  const started = Date.now()
  const r = await provisionTenant(request(), { bin, timeoutMs: 8_000 })
  assert.ok(Date.now() - started < 40_000, 'the rollback took too long')
  assert.equal(r.timedOut, true, show(r))
  assert.ok(!r.success && r.code === 'INTERRUPTED', show(r))
  assert.equal(r.exitCode, 3, show(r))
  assert.ok(r.rollback.length > 0, show(r))
  assert.ok(r.rollback.every((u) => u.ok), show(r))
})
