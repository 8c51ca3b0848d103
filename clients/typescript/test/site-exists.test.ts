import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signUp } from '../examples/signup.js'
import { provisionTenant } from '../src/index.js'
import { bin, request, show } from './case.js'

test('an existing site is SITE_EXISTS with exit code 1 and nothing undone', async () => {
  const form = request()
  const r = await provisionTenant(form, { bin })
  assert.ok(!r.success && r.code === 'SITE_EXISTS', show(r))
  assert.equal(r.exitCode, 1, show(r))
  assert.equal(r.site, `${form.subdomain}.localhost`)
  assert.deepEqual(r.rollback, [])
})

test("the README's signUp answers 409", async () => {
  const page = await signUp(request(), async () => {
    assert.fail('nothing to save')
  })
  assert.equal(page.status, 409)
})
