import type { Child } from 'hono/jsx'
import type { UserRow } from '../coordinator/store'
import { assetUrl } from './assets'

/** The dashboard's sections, in the order the navigation shows them. */
export const SECTIONS = [
  { id: 'overview', href: '/', label: 'Overview' },
  { id: 'workers', href: '/workers', label: 'Workers' },
  { id: 'jobs', href: '/jobs', label: 'Jobs' },
  { id: 'run', href: '/run', label: 'Run a script' },
  { id: 'credits', href: '/credits', label: 'Credits' },
] as const

/** Which section a page belongs to (its navigation entry is marked current). */
export type SectionId = (typeof SECTIONS)[number]['id'] | 'admin' | 'none'

/** A whole HTML document: head, the navigation of a logged-in user, and the page's content. */
export function Document(props: { title: string; children: Child; scripts?: string[] }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{`${props.title} · Grid-X`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={assetUrl('style.css')} />
        {(props.scripts ?? []).map((s) => (
          <script src={assetUrl(s)} defer />
        ))}
      </head>
      <body>{props.children}</body>
    </html>
  )
}

/** A page of the dashboard for a logged-in user. */
export function Page(props: {
  title: string
  user: UserRow
  csrf: string
  section: SectionId
  children: Child
  /** Browser scripts the page needs besides live.js (names in assets.ts). */
  scripts?: string[]
}) {
  return (
    <Document title={props.title} scripts={['live.js', ...(props.scripts ?? [])]}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Grid-X</span>
        <nav aria-label="Sections">
          {SECTIONS.map((s) => (
            <a href={s.href} aria-current={s.id === props.section ? 'page' : undefined}>
              {s.label}
            </a>
          ))}
          {props.user.isAdmin ? (
            <a href="/admin" aria-current={props.section === 'admin' ? 'page' : undefined}>
              Operator
            </a>
          ) : null}
        </nav>
        <span class="muted">{props.user.name}</span>
        <form method="post" action="/logout">
          <input type="hidden" name="csrf" value={props.csrf} />
          <button type="submit">Log out</button>
        </form>
      </header>
      <main id="main">
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </Document>
  )
}
