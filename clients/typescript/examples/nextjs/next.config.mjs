import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// frappe-tenant-client is a `file:` dependency: node_modules/frappe-tenant-client links to
// clients/typescript, outside this app. Turbopack reads no file above its root, so its root
// (and the file tracing's) is that folder; webpack follows the link by itself.
const client = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** @type {import('next').NextConfig} */
export default {
  turbopack: { root: client },
  outputFileTracingRoot: client,
}
