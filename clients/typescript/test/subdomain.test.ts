import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkSubdomain } from '../src/index.js'
import { bin, need } from './case.js'

// The harness makes FT_TAKEN's site (someone else's folder) and holds FT_BUSY's lock,
// as a sign-up under way does; FT_SUBDOMAIN is free.
test('checkSubdomain tells free, taken, busy and invalid apart, with the reason', async () => {
  const free = await checkSubdomain(need('FT_SUBDOMAIN'), { bin })
  assert.equal(free.status, 'free', JSON.stringify(free))
  assert.equal(free.site, `${need('FT_SUBDOMAIN')}.localhost`)
  const taken = await checkSubdomain(need('FT_TAKEN'), { bin })
  assert.deepEqual(
    [taken.status, taken.reason],
    ['taken', `site ${need('FT_TAKEN')}.localhost already exists`],
    JSON.stringify(taken),
  )
  const busy = await checkSubdomain(need('FT_BUSY'), { bin })
  assert.equal(busy.status, 'busy', JSON.stringify(busy))
  assert.match(busy.reason, /another run is working on/)
  const invalid = await checkSubdomain('www', { bin })
  assert.deepEqual([invalid.status, invalid.reason], ['invalid', "Subdomain: 'www' is reserved"])
  const bad = await checkSubdomain('Acme_Corp', { bin })
  assert.equal(bad.status, 'invalid', JSON.stringify(bad))
})
