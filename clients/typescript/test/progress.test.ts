import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signUp } from '../examples/signup.js'
import type { ProgressEvent, ProvisionSuccess } from '../src/index.js'
import { request } from './case.js'

// The harness sets TENANT_PUBLIC_URL=https://{subdomain}.example.com.
test("the README's signUp reports each step live and answers with the public URL", async () => {
  const events: ProgressEvent[] = []
  const saved: ProvisionSuccess[] = []
  const form = request()
  const page = await signUp(form, async (t) => void saved.push(t), {
    onProgress: (e) => events.push(e),
  })
  assert.deepEqual(page, { status: 201, url: `https://${form.subdomain}.example.com` }, JSON.stringify(events))
  assert.equal(saved[0]?.url, page.url)
  const steps = events.filter((e) => e.event !== 'log')
  const order = steps.map((e) => `${e.event} ${e.step}`)
  assert.deepEqual(order, [
    'start create-site',
    'done create-site',
    'start install-apps',
    'done install-apps',
    'start create-user',
    'start subscription',
    'done create-user',
    'done subscription',
    'start setup-wizard',
    'done setup-wizard',
    'start api-keys',
    'done api-keys',
  ])
  for (const e of steps) assert.equal(e.of, 6)
  assert.ok(steps.every((e) => e.event !== 'done' || e.seconds >= 0))
  // The human lines come as log events: `--progress json` turned every line into one.
  assert.ok(events.some((e) => e.event === 'log' && /Provisioning completed/.test(e.message)), JSON.stringify(events))
})
