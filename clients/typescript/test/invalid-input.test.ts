import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signUp } from '../examples/signup.js'
import { provisionTenant } from '../src/index.js'
import { bin, request, show } from './case.js'

test('a weak password is INVALID_INPUT with exit code 2', async () => {
  const r = await provisionTenant(request({ password: 'password' }), { bin })
  assert.ok(!r.success && r.code === 'INVALID_INPUT', show(r))
  assert.equal(r.exitCode, 2, show(r))
  assert.deepEqual(r.rollback, [])
  assert.match(r.error, /password/)
})

test("the README's signUp answers 400", async () => {
  const page = await signUp(request({ password: 'password' }), async () => {
    assert.fail('nothing to save')
  })
  assert.equal(page.status, 400)
})
