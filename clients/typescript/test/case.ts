// What the Rust harness (tests/typescript_client.rs) hands a case: the tool's env (bench
// double, fake Frappe, MariaDB) is already in process.env; these name the binary and the
// sign-up. A case run without the harness fails here instead of testing nothing.
import assert from 'node:assert/strict'
import type { ProvisionOutcome, ProvisionRequest } from '../src/index.js'

export function need(name: string): string {
  const value = process.env[name]
  assert.ok(value, `${name} is not set: run this through \`cargo test --test typescript_client\``)
  return value
}

export const bin = need('FRAPPE_TENANT_BIN')

export function request(overrides: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return {
    subdomain: need('FT_SUBDOMAIN'),
    email: 'jane@acme.com',
    fullName: 'Jane Roe',
    password: need('FT_PASSWORD'),
    organizationName: 'Acme Inc',
    ...overrides,
  }
}

/** The outcome as an assertion message: enough to see why a case failed. */
export function show(r: ProvisionOutcome): string {
  return JSON.stringify({ ...r, apiSecret: undefined, stderr: r.stderr.slice(-2000) }, null, 1)
}
