// The sign-up page as a person uses it, in headless Chromium (Debian's, through
// playwright-core): an input the tool refuses is marked, a taken subdomain says so, and a
// sign-up shows its steps and lands on success. Run by tests/cli/typescript_client.rs
// (`the_nextjs_example_signs_up_in_a_browser`, see test.sh), which starts `next start`
// against the built binary and the test doubles and passes:
//   APP_URL   the running app           SUBDOMAIN  a free subdomain to sign up
//   TAKEN     a subdomain already made  SCREENSHOTS the folder for the screenshots
//   CHROMIUM  the browser (default /usr/bin/chromium)
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const need = (name) => {
  const v = process.env[name]
  assert.ok(v, `${name} is not set (run test.sh)`)
  return v
}
const app = need('APP_URL')
const sub = need('SUBDOMAIN')
const taken = need('TAKEN')
const shots = need('SCREENSHOTS')
await mkdir(shots, { recursive: true })

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  // As root (CI, containers) Chromium runs only without its sandbox.
  args: ['--no-sandbox'],
})
const step = (name) => console.log(`e2e: ${name}`)
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 1000 } })
  page.setDefaultTimeout(60_000)
  const fill = async (form) => {
    for (const [name, value] of Object.entries(form)) await page.fill(`#${name}`, value)
  }
  const form = {
    subdomain: sub,
    email: 'jane@acme.com',
    fullName: 'Jane Roe',
    password: 'Tr1cky-Lantern-42',
    organizationName: 'Acme Inc',
  }

  step('a password the tool refuses marks the password input')
  await page.goto(app)
  await fill({ ...form, password: 'Password123' })
  await page.click('button[type=submit]')
  await page.waitForSelector('#password[aria-invalid=true]')
  const why = await page.textContent('#password-error')
  assert.match(why ?? '', /^Password: /, `the password's message: ${why}`)
  assert.equal(await page.$('#subdomain[aria-invalid=true]'), null, 'only the password is marked')
  await page.screenshot({ path: join(shots, '1-invalid-password.png'), fullPage: true })

  step('a taken subdomain says so when its input is left')
  await page.fill('#subdomain', taken)
  await page.press('#subdomain', 'Tab')
  await page.waitForSelector('#subdomain[aria-invalid=true]')
  assert.equal(await page.textContent('#subdomain-error'), 'That subdomain is taken')
  await page.screenshot({ path: join(shots, '2-taken-subdomain.png'), fullPage: true })

  step('a free subdomain is said to be available')
  await page.fill('#subdomain', sub)
  await page.press('#subdomain', 'Tab')
  await page.waitForSelector(`#subdomain-error:has-text("${sub} is available")`)

  step('a sign-up shows its steps and lands on success')
  await page.fill('#password', form.password)
  await page.click('button[type=submit]')
  // Streamed, not told at the end: the page shows a step under way before the result.
  await page.waitForSelector('[data-step][data-state=running]')
  assert.equal(await page.$('#success'), null, 'a step was under way after the success')
  await page.screenshot({ path: join(shots, '3-in-progress.png'), fullPage: true })
  await page.waitForSelector('#success')
  const url = await page.getAttribute('#success a', 'href')
  assert.match(url ?? '', new RegExp(`^https://${sub}\\.example\\.com$`), `the public URL: ${url}`)
  const states = await page.$$eval('[data-step]', (li) => li.map((l) => l.getAttribute('data-state')))
  assert.deepEqual(states, ['done', 'done', 'done', 'done', 'done', 'done'])
  assert.equal(await page.getAttribute('#progress', 'value'), '6')
  await page.click('summary')
  const events = await page.$$eval('#events li', (li) => li.map((l) => l.textContent ?? ''))
  // Each step started before it was done, in the tool's order; 3 and 4 run together, 5 after them.
  const at = (e) => events.findIndex((l) => l.startsWith(e))
  for (const s of ['create-site', 'install-apps', 'create-user', 'subscription', 'setup-wizard', 'api-keys']) {
    assert.ok(at(`start ${s}`) >= 0 && at(`start ${s}`) < at(`done ${s}`), `${s} in ${events}`)
  }
  assert.ok(at('done create-site') < at('start install-apps'), `${events}`)
  assert.ok(at('done subscription') < at('start setup-wizard'), `${events}`)
  assert.ok(at('done setup-wizard') < at('start api-keys'), `${events}`)
  await page.screenshot({ path: join(shots, '4-success.png'), fullPage: true })
  console.log(`e2e: ok, ${events.length} progress events; screenshots in ${shots}`)
} finally {
  await browser.close()
}
