import assert from 'node:assert/strict'
import { test } from 'node:test'
import { provisionTenant, verifyTenant } from '../src/index.js'
import { bin, request, show } from './case.js'

test('verifyTenant checks a tenant just made, with its keys; a wrong secret fails token-auth only', async () => {
  const t = await provisionTenant(request(), { bin })
  assert.ok(t.success, show(t))
  const ok = await verifyTenant(t.site, { bin, email: t.email, apiKey: t.apiKey, apiSecret: t.apiSecret })
  assert.ok('checks' in ok, JSON.stringify(ok))
  assert.equal(ok.success, true, JSON.stringify(ok.checks))
  assert.equal(ok.exitCode, 0)
  assert.ok(ok.checks.some((c) => c.name === 'token-auth' && c.ok), JSON.stringify(ok.checks))
  assert.ok(!ok.stderr.includes(t.apiSecret))

  const wrong = await verifyTenant(t.site, { bin, apiKey: t.apiKey, apiSecret: 'not-the-secret-0123456789' })
  assert.ok('checks' in wrong && wrong.success === false, JSON.stringify(wrong))
  assert.equal(wrong.exitCode, 5)
  assert.deepEqual(
    wrong.checks.filter((c) => !c.ok).map((c) => c.name),
    ['token-auth'],
  )
})

test('verifyTenant of a site name that is no DNS label is a failure on the site', async () => {
  const r = await verifyTenant('../etc', { bin })
  assert.ok(!r.success && 'code' in r && r.code === 'INVALID_INPUT', JSON.stringify(r))
  assert.equal(r.exitCode, 2)
})
