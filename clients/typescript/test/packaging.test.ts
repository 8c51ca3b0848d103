// The package as another project gets it: what `npm pack` ships, an ESM and a CommonJS
// entry with types, and a plain refusal for a browser bundle. Needs Node and npm only.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '../..')

test('npm pack ships the built library and its sources, no tests or configs', async () => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root })
  const files: string[] = JSON.parse(stdout)[0].files.map((f: { path: string }) => f.path)
  for (const needed of [
    'package.json',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/src/client.js',
    'dist/cjs/index.js',
    'dist/cjs/index.d.ts',
    'dist/cjs/package.json',
    'src/index.ts',
  ]) {
    assert.ok(files.includes(needed), `${needed} not in ${files}`)
  }
  const stray = files.filter((f) => /(^|\/)(test|examples|scripts)\/|tsconfig|node_modules/.test(f))
  assert.deepEqual(stray, [])
})

test('a git or file: dependency builds itself: `prepare` runs the build', async () => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
  assert.equal(pkg.scripts.prepare, 'npm run build')
})

test('import and require both get the helper', async () => {
  const esm = await import('frappe-tenant-client')
  assert.equal(typeof esm.provisionTenant, 'function')
  const cjs = createRequire(import.meta.url)('frappe-tenant-client')
  for (const name of ['provisionTenant', 'checkSubdomain', 'verifyTenant', 'progressEvent']) {
    assert.equal(typeof cjs[name], 'function', name)
  }
  assert.match(createRequire(import.meta.url).resolve('frappe-tenant-client'), /dist\/cjs\/index\.js$/)
})

test('a browser bundle gets a plain refusal, not a missing node:child_process', async () => {
  const code = "import('frappe-tenant-client').then(() => console.log('imported'))"
  const r = await run(process.execPath, ['--conditions=browser', '--input-type=module', '-e', code], {
    cwd: root,
  }).catch((e: { stdout: string; stderr: string }) => e)
  assert.doesNotMatch(r.stdout, /imported/)
  // Outside React's server, `server-only` itself refuses first; Next.js says it at build time.
  assert.match(r.stderr, /cannot be imported from a Client Component|use it in a route handler/)
  assert.doesNotMatch(r.stderr, /child_process/)
})
