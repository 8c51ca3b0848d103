// What a browser bundle gets instead of the helper (the package's "browser" export): the
// helper starts a binary with node:child_process and hands back API secrets, so it belongs
// on a server. Next.js (webpack and Turbopack) stops the build at the import of
// `server-only` below and names the client component that led here; another bundler gets
// the plain error below at run time.
import 'server-only'

function refuse(): never {
  throw new Error(
    'frappe-tenant-client runs the frappe-tenant binary on a Node server: use it in a route handler, a server action or a server component, never in a "use client" file',
  )
}
refuse()

// The helper's names, so a bundler reports the import above and not a missing export.
export const provisionTenant = refuse
export const checkSubdomain = refuse
export const verifyTenant = refuse
export const progressEvent = refuse
