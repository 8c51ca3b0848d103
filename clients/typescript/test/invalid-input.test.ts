import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signUp } from '../examples/signup.js'
import { provisionTenant, type ProvisionRequest } from '../src/index.js'
import { bin, request, show } from './case.js'

test('a weak password is INVALID_INPUT with exit code 2, on the password field', async () => {
  const r = await provisionTenant(request({ password: 'password' }), { bin })
  assert.ok(!r.success && r.code === 'INVALID_INPUT', show(r))
  assert.equal(r.exitCode, 2, show(r))
  assert.deepEqual(r.rollback, [])
  assert.equal(r.field, 'password')
  assert.equal(r.error, 'Password: must mix upper-case and lower-case letters and digits')
})

test('each refused input is named, with a sentence a person can read', async () => {
  for (const [form, field, error] of [
    [{ subdomain: 'www' }, 'subdomain', "Subdomain: 'www' is reserved"],
    [{ email: 'jane' }, 'email', "Email: must contain '@'"],
    [{ fullName: ' ' }, 'fullName', 'Full name: must not be empty'],
    [{ organizationName: '<b>Acme</b>' }, 'organizationName', "Organization name: must not contain '<' or '>'"],
  ] as const) {
    const r = await provisionTenant(request(form), { bin })
    assert.ok(!r.success && r.code === 'INVALID_INPUT', show(r))
    assert.deepEqual([r.field, r.error], [field, error])
  }
})

test('a malformed request names the field and what was expected, not the parser', async () => {
  // What a form handler passes on when its values are not what the types promise.
  const missing = { ...request(), organizationName: undefined } as unknown as ProvisionRequest
  const r = await provisionTenant(missing, { bin })
  assert.ok(!r.success && r.code === 'INVALID_INPUT', show(r))
  assert.deepEqual([r.field, r.error, r.exitCode], ['organizationName', 'Organization name: is required', 2])
  const number = { ...request(), subdomain: 42 } as unknown as ProvisionRequest
  const n = await provisionTenant(number, { bin })
  assert.ok(!n.success && n.code === 'INVALID_INPUT', show(n))
  assert.deepEqual([n.field, n.error], ['subdomain', 'Subdomain: must be a string'])
  for (const said of [r.error, n.error]) assert.doesNotMatch(said, /line \d|column|invalid type|`/)
})

test("the README's signUp answers 400 and names the input to mark", async () => {
  const page = await signUp(request({ password: 'password' }), async () => {
    assert.fail('nothing to save')
  })
  assert.deepEqual(page, { status: 400, field: 'password', message: 'Password: must mix upper-case and lower-case letters and digits' })
})
