'use client'
// The sign-up page: a form, a subdomain check on leaving its input, and a progress bar fed
// by /api/signup's stream, one JSON line per event. An input the tool refused is marked.
import { type FormEvent, useState } from 'react'

const STEPS = [
  ['create-site', 'Creating your site'],
  ['install-apps', 'Installing apps'],
  ['create-user', 'Creating your account'],
  ['subscription', 'Setting up your plan'],
  ['setup-wizard', 'Setting up your workspace'],
  ['api-keys', 'Issuing API keys'],
] as const
type Step = (typeof STEPS)[number][0]
const FIELDS = [
  ['subdomain', 'Subdomain', 'text'],
  ['email', 'Email', 'email'],
  ['fullName', 'Full name', 'text'],
  ['password', 'Password', 'password'],
  ['organizationName', 'Organization', 'text'],
] as const
type Field = (typeof FIELDS)[number][0]

type Line =
  | { event: 'start'; step: Step }
  | { event: 'done'; step: Step; seconds: number }
  | { event: 'result'; status: number; url?: string; field?: Field; message?: string }

export default function SignUpPage() {
  const [steps, setSteps] = useState<Partial<Record<Step, 'running' | number>>>({})
  const [log, setLog] = useState<string[]>([])
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({})
  const [free, setFree] = useState('')
  const [message, setMessage] = useState('')
  const [url, setUrl] = useState('')
  const [busy, setBusy] = useState(false)

  async function check(name: string) {
    setFree('')
    if (!name) return
    const res = await fetch(`/api/subdomain?name=${encodeURIComponent(name)}`)
    const c = (await res.json()) as { status: string; reason: string }
    if (c.status === 'free') setFree(`${name} is available`)
    else if (c.status !== 'unknown') setErrors((e) => ({ ...e, subdomain: c.reason }))
  }

  function show(line: Line) {
    if (line.event === 'start') {
      setSteps((s) => ({ ...s, [line.step]: 'running' }))
      setLog((l) => [...l, `start ${line.step}`])
    } else if (line.event === 'done') {
      setSteps((s) => ({ ...s, [line.step]: line.seconds }))
      setLog((l) => [...l, `done ${line.step} ${line.seconds}s`])
    } else if (line.status === 201 && line.url) {
      setUrl(line.url)
    } else if (line.field) {
      setErrors({ [line.field]: line.message })
    } else {
      setMessage(line.message ?? 'Sign-up failed')
    }
  }

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = Object.fromEntries(new FormData(e.currentTarget))
    setSteps({})
    setLog([])
    setErrors({})
    setMessage('')
    setBusy(true)
    try {
      const res = await fetch('/api/signup', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(form),
      })
      if (!res.body) throw new Error(`HTTP ${res.status}`)
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        const lines = buffer.split('\n')
        buffer = lines.pop() ?? ''
        for (const line of lines) if (line) show(JSON.parse(line) as Line)
      }
    } catch (err) {
      setMessage(`Sign-up is unavailable right now (${(err as Error).message})`)
    } finally {
      setBusy(false)
    }
  }

  const done = Object.values(steps).filter((s) => typeof s === 'number').length
  if (url) {
    return (
      <main>
        <h1>Your workspace is ready</h1>
        <p id="success">
          Open <a href={url}>{url}</a> and log in with your email and password.
        </p>
        <Progress steps={steps} done={done} />
        <EventLog log={log} />
      </main>
    )
  }
  return (
    <main>
      <h1>Create your workspace</h1>
      <form onSubmit={submit} noValidate>
        {FIELDS.map(([name, label, type]) => (
          <p key={name}>
            <label htmlFor={name} style={{ display: 'block', fontWeight: 600 }}>
              {label}
            </label>
            <input
              id={name}
              name={name}
              type={type}
              aria-invalid={errors[name] ? true : undefined}
              aria-describedby={`${name}-error`}
              onChange={() => setErrors((e) => ({ ...e, [name]: undefined }))}
              onBlur={name === 'subdomain' ? (e) => void check(e.currentTarget.value) : undefined}
              style={{ width: '100%', padding: '.4rem', border: `2px solid ${errors[name] ? '#c62828' : '#bbb'}` }}
            />
            <small id={`${name}-error`} role={errors[name] ? 'alert' : undefined} style={{ color: '#c62828' }}>
              {errors[name] ?? (name === 'subdomain' ? <span style={{ color: '#2e7d32' }}>{free}</span> : null)}
            </small>
          </p>
        ))}
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create workspace'}
        </button>
      </form>
      {message && (
        <p id="message" role="alert">
          {message}
        </p>
      )}
      {busy || done > 0 ? <Progress steps={steps} done={done} /> : null}
      <EventLog log={log} />
    </main>
  )
}

function Progress({ steps, done }: { steps: Partial<Record<Step, 'running' | number>>; done: number }) {
  return (
    <section aria-label="Progress">
      <progress id="progress" max={STEPS.length} value={done} style={{ width: '100%' }} />
      <ol>
        {STEPS.map(([step, label]) => {
          const s = steps[step]
          const state = s === undefined ? 'waiting' : s === 'running' ? 'running' : 'done'
          return (
            <li key={step} data-step={step} data-state={state}>
              {state === 'done' ? '✓' : state === 'running' ? '…' : '○'} {label}
              {typeof s === 'number' ? ` (${s.toFixed(2)} s)` : ''}
            </li>
          )
        })}
      </ol>
    </section>
  )
}

function EventLog({ log }: { log: string[] }) {
  return (
    <details>
      <summary>Events ({log.length})</summary>
      <ol id="events">
        {log.map((l, i) => (
          <li key={i}>{l}</li>
        ))}
      </ol>
    </details>
  )
}
