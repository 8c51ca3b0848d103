import assert from 'node:assert/strict'
import { test } from 'node:test'
import { provisionTenant } from '../src/index.js'
import { bin, request, show } from './case.js'

test('a failing user insert is rolled back: exit code 3, every undo ok', async () => {
  const r = await provisionTenant(request(), { bin })
  assert.ok(!r.success && r.code === 'API_ERROR', show(r))
  assert.equal(r.exitCode, 3, show(r))
  assert.equal(r.step, 'create-user')
  assert.equal(r.timedOut, false)
  assert.ok(r.rollback.length > 0, show(r))
  assert.ok(r.rollback.every((u) => u.ok), show(r))
})
