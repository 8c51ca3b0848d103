// GET /api/subdomain?name=acme: whether a subdomain can be signed up now (the tool's
// --dry-run: it changes nothing).
import { checkSubdomain } from 'frappe-tenant-client'

export const runtime = 'nodejs'
export const dynamic = 'force-dynamic'

export async function GET(request: Request) {
  const name = new URL(request.url).searchParams.get('name') ?? ''
  const check = await checkSubdomain(name, {
    bin: process.env.FRAPPE_TENANT_BIN ?? 'frappe-tenant',
    signal: request.signal,
  })
  if (check.status === 'unknown') console.error('subdomain check:', check.reason)
  const reason = check.status === 'taken' || check.status === 'busy' ? 'That subdomain is taken' : check.reason
  return Response.json({ status: check.status, reason: check.status === 'unknown' ? '' : reason })
}
