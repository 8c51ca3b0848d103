import type { ReactNode } from 'react'

export const metadata = { title: 'Sign up — frappe-tenant example' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', margin: '2rem auto', maxWidth: '34rem' }}>
        {children}
      </body>
    </html>
  )
}
