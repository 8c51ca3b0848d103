import { provisionTenant, type ProgressEvent, type ProvisionRequest, type ProvisionSuccess } from 'frappe-tenant-client'

// Server side only (a Next.js route handler or server action): the API secret must never
// reach the browser, so it goes to `save`; the page gets a status, the input to mark, a message.
export async function signUp(
  form: ProvisionRequest,
  save: (tenant: ProvisionSuccess) => Promise<void>,
  live: { onProgress?: (event: ProgressEvent) => void; signal?: AbortSignal } = {},
) {
  const result = await provisionTenant(form, {
    bin: process.env.FRAPPE_TENANT_BIN ?? 'frappe-tenant',
    timeoutMs: 150_000, // after PROVISION_TIMEOUT (120 s): the tool gives up first
    onProgress: live.onProgress, // each step as it starts and ends, for a progress bar
    signal: live.signal, // aborted (the browser left): the tool rolls back, still answers
  })
  if (result.success) {
    await save(result) // site, url (TENANT_PUBLIC_URL's), apiKey, apiSecret, dbName, path, …
    return { status: 201, url: result.url }
  }
  switch (result.code) {
    case 'INVALID_INPUT': // `field`: the input to mark; `error`: what is wrong, for a person
      return { status: 400, field: result.field ?? undefined, message: result.error }
    case 'SITE_EXISTS':
    case 'SITE_BUSY':
      return { status: 409, field: 'subdomain', message: 'That subdomain is taken' }
    case 'NO_RESULT': // could not start, or died without a word (result.stderr says more)
      console.error('frappe-tenant:', result.error, result.stderr)
      return { status: 500, message: 'Sign-up is unavailable right now' }
    default:
      // Exit code 4: the rollback left something behind, listed in result.rollback.
      if (result.exitCode === 4) console.error('frappe-tenant left:', result.rollback)
      return { status: 503, message: 'Sign-up failed; please try again' }
  }
}
