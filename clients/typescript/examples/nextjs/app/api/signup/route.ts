// POST /api/signup: the sign-up, streamed to the page as it happens, one JSON line per
// event (each step starting and done), then the answer. The API secret stays here.
import type { ProvisionRequest, ProvisionSuccess } from 'frappe-tenant-client'
import { signUp } from '@/lib/signup'

export const runtime = 'nodejs' // the helper starts a binary: not the edge runtime
export const dynamic = 'force-dynamic'

// Stands in for your database: what the tenant's credentials are kept in.
const tenants = new Map<string, ProvisionSuccess>()

export async function POST(request: Request) {
  const form = (await request.json()) as ProvisionRequest
  const body = new ReadableStream<Uint8Array>({
    async start(page) {
      const send = (line: object) => page.enqueue(new TextEncoder().encode(`${JSON.stringify(line)}\n`))
      const answer = await signUp(form, async (t) => void tenants.set(t.site, t), {
        signal: request.signal, // the browser went away: the tool stops and rolls back
        onProgress: (e) => e.event !== 'log' && send(e),
      })
      send({ event: 'result', ...answer })
      page.close()
    },
  })
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } })
}
