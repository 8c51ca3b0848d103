import { provisionTenant, type ProvisionRequest, type ProvisionSuccess } from 'frappe-tenant-client'

// Server side only (a Next.js server action or route handler): the API secret must never
// reach the browser, so it goes to `save`, and the page gets a status and a message.
export async function signUp(
  form: ProvisionRequest,
  save: (tenant: ProvisionSuccess) => Promise<void>,
) {
  const result = await provisionTenant(form, {
    bin: process.env.FRAPPE_TENANT_BIN ?? 'frappe-tenant',
    timeoutMs: 150_000, // after PROVISION_TIMEOUT (120 s): the tool gives up first
  })
  if (result.success) {
    await save(result) // site, url, apiKey, apiSecret, dbName, path, …
    return { status: 201, url: result.url }
  }
  switch (result.code) {
    case 'INVALID_INPUT':
      return { status: 400, message: result.error }
    case 'SITE_EXISTS':
    case 'SITE_BUSY':
      return { status: 409, message: 'That subdomain is taken' }
    case 'NO_RESULT': // could not start, or died without a word (result.stderr says more)
      console.error('frappe-tenant:', result.error, result.stderr)
      return { status: 500, message: 'Sign-up is unavailable right now' }
    default:
      // Exit code 4: the rollback left something behind, listed in result.rollback.
      if (result.exitCode === 4) console.error('frappe-tenant left:', result.rollback)
      return { status: 503, message: 'Sign-up failed; please try again' }
  }
}
