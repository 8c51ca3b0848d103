// dist/cjs holds the CommonJS build under a package that is `"type": "module"`: this
// marks that folder CommonJS, so Node (and TypeScript) read its .js and .d.ts as such.
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
await writeFile(join(here, '../dist/cjs/package.json'), '{\n  "type": "commonjs"\n}\n')
