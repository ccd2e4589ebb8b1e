import type { Children } from '@kitajs/html'
import type { SignedIn } from '../session'

export interface Nav {
  who: SignedIn | null
  /** Organizations the person belongs to (the switcher shows when there are several). */
  organizations?: { id: string; slug: string; name: string }[]
  current?: string
}

const LINKS = [
  { href: '/settings/profile', label: 'Profile', admin: false },
  { href: '/settings/tokens', label: 'Personal Access Tokens', admin: false },
  { href: '/org/members', label: 'Members', admin: true },
  { href: '/org/audit', label: 'Audit log', admin: true },
]

/** Every console page: one stylesheet, one script, a header with the navigation. */
export function Layout(props: { title: string; nav: Nav; children?: Children }) {
  const { who, organizations = [], current } = props.nav
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title safe>{`${props.title} - teamday`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <span class="brand">teamday</span>
          {who ? (
            <>
              <nav aria-label="Console">
                <ul>
                  {LINKS.filter((l) => !l.admin || who.role === 'admin').map((l) => (
                    <li>
                      <a href={l.href} aria-current={current === l.href ? 'page' : undefined} safe>
                        {l.label}
                      </a>
                    </li>
                  ))}
                  <li>
                    <a href="/swagger">API docs</a>
                  </li>
                </ul>
              </nav>
              {organizations.length > 1 ? (
                <form method="post" action="/org/switch" class="row">
                  <label>
                    <span class="sr-only">Organization</span>
                    <select name="organizationId">
                      {organizations.map((o) => (
                        <option value={o.id} selected={o.id === who.organization.id} safe>
                          {o.name}
                        </option>
                      ))}
                    </select>
                  </label>
                  <button type="submit">Switch</button>
                </form>
              ) : (
                <span class="muted" safe>
                  {who.organization.name}
                </span>
              )}
              <form method="post" action="/logout" class="inline">
                <button type="submit">Sign out</button>
              </form>
            </>
          ) : (
            ''
          )}
        </header>
        <main id="main">
          <h1 safe>{props.title}</h1>
          {props.children as 'safe'}
        </main>
      </body>
    </html>
  )
}

/** A date in the viewer's time zone (the script rewrites it), ISO in the title; "never" for null. */
export function When(props: { at: string | Date | null; never?: string }) {
  if (props.at === null) return <span safe>{props.never ?? 'never'}</span>
  const iso = typeof props.at === 'string' ? props.at : props.at.toISOString()
  return (
    <time datetime={iso} title={iso} safe>
      {iso.replace('T', ' ').slice(0, 16) + ' UTC'}
    </time>
  )
}

/** When, and from which address when known (a sign-in, a last use). */
export function WhenFrom(props: { at: string | Date | null; ip: string | null }) {
  return (
    <>
      <When at={props.at} />
      {props.ip ? (
        <>
          {' '}
          <span class="muted">
            from <span safe>{props.ip}</span>
          </span>
        </>
      ) : (
        ''
      )}
    </>
  )
}

export function ErrorBox(props: { message?: string | null }) {
  if (!props.message) return ''
  return (
    <p class="error" role="alert" safe>
      {props.message}
    </p>
  )
}
