import { Elysia, t } from 'elysia'
import { roleRefusal } from '../../auth/roles'
import { AppError } from '../../errors'
import { FormFieldRefusal } from '../../http/secret-fields'
import { canEditSpace } from '../../modules/spaces/access'
import { getSpace, listSpaceSummaries } from '../../modules/spaces/service'
import { validateSecretKeys } from '../../modules/spaces/secrets'
import { deleteSpaceSecrets, setSpaceSecrets } from '../../modules/spaces/space-secrets'
import { echoed, FormBody, field, hidden, pageRefusal, shown, typedField, type FormFields } from '../form'
import { page, redirect, type ConsoleKit } from '../http'
import { langOf, messages } from '../i18n'
import type { SignedIn } from '../session'
import { MessagePage } from '../views/auth'
import { envHref, SpacePage, SpacesPage, type EnvSection } from '../views/spaces'
import { errorOf, fieldErrorOf, navOf } from './settings'

const IdParams = t.Object({ id: t.String() })

/** The header entry the space pages belong to. */
const CURRENT = '/spaces'

/** A variable's name as the service takes it (src/modules/spaces/secrets.ts): for a notice, and to recognise a line pasted whole. */
const ENV_KEY = /^[A-Z][A-Z0-9_]{0,127}$/

/**
 * The value of a line `NAME=value` (TeamDay's docs: "TEAMDAY_TOKEN=td_your-token-here"; also
 * `export NAME=…`, the value in matching quotes) pasted whole into Value for the variable `name`:
 * what follows `NAME=`, unquoted; null when `sent` is no such line for this name.
 */
function valueOfLine(name: string, sent: string): string | null {
  let rest = sent.trim()
  if (rest.startsWith('export ')) rest = rest.slice('export '.length).trimStart()
  if (!rest.startsWith(`${name}=`)) return null
  rest = rest.slice(name.length + 1).trim()
  if (rest.length >= 2 && (rest[0] === '"' || rest[0] === "'") && rest.endsWith(rest[0]!)) rest = rest.slice(1, -1)
  return rest === '' ? null : rest
}

/**
 * The refusal of POST/DELETE /api/v1/spaces/{id}/secrets to a role without secrets:write (the
 * auth macro's own): decided before the space is looked up, as the API does.
 */
const secretsRefusal = (who: SignedIn): AppError | null => roleRefusal(who.role, 'secrets:write')

/**
 * The add form's field a refusal of variable `name` is about: `secrets` (an invalid name, told by
 * its position) is the name's; `secrets.<key>` (a valid name's value, too large) the value's.
 */
function envFields(name: string): FormFields {
  let keyOk = true
  try {
    validateSecretKeys([name], 'secrets')
  } catch {
    keyOk = false
  }
  const key = shown('name', (t) => t.envName)
  return keyOk ? { secrets: key, [`secrets.${name}`]: shown('value', (t) => t.envValue) } : { secrets: key }
}

/**
 * Spaces (header entry) and a space's page with Space Settings → Environment Variables: the same
 * services and rules as /api/v1/spaces and /api/v1/spaces/{id}/secrets (list and visibility;
 * secrets:write and the space's creator or an admin to change variables; another
 * organization's or an invisible private space is 404).
 */
export function spaceRoutes(kit: ConsoleKit) {
  /**
   * The page of space `ref` as the person may see it (404 page when the API would answer 404),
   * with a message in its Environment Variables section.
   */
  const spacePage = async (who: SignedIn, request: Request, set: any, ref: string, env: EnvSection = {}, status = 200): Promise<Response> => {
    const nav = await navOf(kit, who, request, set, CURRENT)
    let space
    try {
      space = await getSpace(kit.ctxOf(who, request, set), ref)
    } catch (e) {
      if (e instanceof AppError && e.status === 404) {
        return page(await (<MessagePage nav={nav} title={nav.t.notFoundTitle} message={errorOf(request, e)} link={{ href: '/spaces', label: nav.t.backToSpaces }} />), { status: 404 })
      }
      throw e
    }
    const canWrite = secretsRefusal(who) === null && canEditSpace(who.caller, space)
    return page(await (<SpacePage nav={nav} space={space} canWrite={canWrite} env={env} />), { status })
  }

  /**
   * Runs a variable change; a refusal re-renders the section with the service's error (the name
   * kept, never the value), or the 404 page when the space is not the person's to see.
   */
  const change = async (request: Request, set: any, ref: string, body: unknown, name: string | null, fn: (who: SignedIn) => Promise<Response>): Promise<Response> => {
    const who = await kit.signedIn(request)
    if (!who) return kit.toSignIn(request)
    try {
      const refused = secretsRefusal(who)
      if (refused) throw refused
      // A token in a field (the value is exempt: src/http/secret-fields.ts): refused here, the
      // section shown again with the error on the add form's name, as for the service's refusals;
      // a field sent twice with different values, a body that is no form, the same (src/http/page-form.ts).
      const pasted = pageRefusal(body)
      if (pasted) throw pasted
      return await fn(who)
    } catch (e) {
      if (e instanceof AppError) {
        const nav = await navOf(kit, who, request, set, CURRENT)
        // The API refuses a viewer before it looks the space up: a 403 whether or not the space
        // exists. The page shows the space only when the person may see it.
        if (e.status === 403 && !(await getSpace(kit.ctxOf(who, request, set), ref).then(() => true, () => false))) {
          return page(await (<MessagePage nav={nav} title={nav.t.notAllowedTitle} message={errorOf(request, e)} link={{ href: '/spaces', label: nav.t.backToSpaces }} />), { status: 403 })
        }
        // A token pasted into the name field by mistake is not echoed back (the API redacts it too).
        // `name`: the add form's (the remove form's is hidden, its key); null for the remove form.
        // The docs' line `TEAMDAY_TOKEN=td_…` pasted whole into Name: the token is taken out of it
        // (src/http/secret-fields.ts); say where the name and the token go, not "set it as an
        // environment variable of a space", which is what the person was doing.
        const tokenInName = name !== null && e instanceof FormFieldRefusal && e.field === 'name'
        const error = tokenInName
          ? { message: messages(langOf(request)).errTokenInEnvName, field: 'name' }
          : name === null
            ? errorOf(request, e)
            : fieldErrorOf(request, e, { name: shown('name', (t) => t.envName), value: shown('value', (t) => t.envValue), ...envFields(name) })
        return spacePage(who, request, set, ref, { error, name: echoed(name ?? '', 200) }, e.status)
      }
      throw e
    }
  }

  // Adds its routes to the console's instance itself (a function plugin), as the other route files.
  return (app: Elysia) => app
    .get('/spaces', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const archived = query.archived === '1'
      const cursor = typeof query.cursor === 'string' && query.cursor ? query.cursor : undefined
      const nav = await navOf(kit, who, request, set, CURRENT)
      try {
        const r = await listSpaceSummaries(kit.ctxOf(who, request, set), { archived, limit: 100, offset: 0, cursor })
        return page(await (<SpacesPage nav={nav} spaces={r.spaces} archived={archived} next={r.nextCursor} />))
      } catch (e) {
        if (e instanceof AppError) return page(await (<SpacesPage nav={nav} spaces={[]} archived={archived} next={null} error={errorOf(request, e)} />), { status: e.status })
        throw e
      }
    }, hidden)
    .get('/spaces/:id', async ({ request, set, params, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const tx = messages(langOf(request))
      const line = query.done === 'line' && typeof query.key === 'string' && ENV_KEY.test(query.key) ? query.key : null
      const notice = line ? tx.noticeEnvSavedLine(line) : query.done === 'saved' ? tx.noticeEnvSaved : query.done === 'removed' ? tx.noticeEnvRemoved : query.done === 'absent' ? tx.noticeEnvAbsent : undefined
      return spacePage(who, request, set, params.id, { notice })
    }, { ...hidden, params: IdParams })
    // Add or replace one variable (POST /api/v1/spaces/{id}/secrets with one key).
    .post('/spaces/:id/secrets', ({ request, set, params, body }) => {
      const name = typedField(body, 'name')
      return change(request, set, params.id, body, name, async (who) => {
        const sent = field(body, 'value')
        const value = ENV_KEY.test(name) ? valueOfLine(name, sent) : null
        // A computed key is an own property, whatever the name ('__proto__' too); the service validates it.
        await setSpaceSecrets(kit.ctxOf(who, request, set), params.id, { [name]: value ?? sent })
        return redirect(envHref(params.id, value === null ? 'saved' : { line: name }))
      })
    }, { ...hidden, body: FormBody, params: IdParams })
    // Remove one variable (DELETE /api/v1/spaces/{id}/secrets with one key).
    .post('/spaces/:id/secrets/remove', ({ request, set, params, body }) =>
      change(request, set, params.id, body, null, async (who) => {
        const deleted = await deleteSpaceSecrets(kit.ctxOf(who, request, set), params.id, [field(body, 'name')])
        return redirect(envHref(params.id, deleted.length > 0 ? 'removed' : 'absent'))
      }), { ...hidden, body: FormBody, params: IdParams })
}
