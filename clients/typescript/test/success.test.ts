import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signUp } from '../examples/signup.js'
import type { ProvisionSuccess, RunInfo } from '../src/index.js'
import { request } from './case.js'

test("the README's signUp provisions a tenant and saves its credentials", async () => {
  const saved: ProvisionSuccess[] = []
  // A form object with more than the sign-up (the tool refuses unknown fields).
  const form = { ...request(), confirmPassword: request().password }
  const page = await signUp(form, async (t) => {
    saved.push(t)
  })
  assert.equal(saved.length, 1, JSON.stringify(page))
  // signUp hands `save` the whole outcome; its type only promises the tool's fields.
  const t = saved[0] as ProvisionSuccess & RunInfo
  assert.deepEqual(page, { status: 201, url: t.url })
  assert.equal(t.success, true)
  assert.equal(t.exitCode, 0)
  assert.equal(t.timedOut, false)
  assert.equal(t.site, `${form.subdomain}.localhost`)
  assert.match(t.url, new RegExp(`^http://${form.subdomain}\\.localhost:\\d+$`))
  assert.equal(t.email, 'jane@acme.com')
  assert.equal(t.organizationName, 'Acme Inc')
  assert.ok(t.apiKey.length >= 16 && t.apiSecret.length >= 32)
  assert.ok(t.elapsed > 0)
  assert.equal(t.path, 'fresh')
  assert.ok(t.steps.length > 0 && t.steps.every((s) => typeof s.seconds === 'number'))
  assert.ok(!t.stderr.includes(form.password), 'the password must not reach stderr')
  assert.ok(!t.stderr.includes(t.apiSecret), 'the API secret must not reach stderr')
})
