import { Value } from '@sinclair/typebox/value'
import { Elysia, t } from 'elysia'
import { roleRefusal, type Permission } from '../../auth/roles'
import { AppError } from '../../errors'
import { validationDetails } from '../../http/errors'
import { canUseAgent } from '../../modules/agents/access'
import { getAgent, listAgentSummaries, type PublicAgent } from '../../modules/agents/service'
import { listChats, readChat, readChatHead } from '../../modules/chats/service'
import { ExecuteBody } from '../../modules/executions/model'
import { startExecution } from '../../modules/executions/service'
import { FormBody, hidden, pageRefusal, shown, typedField } from '../form'
import { page, redirect, SECURITY_HEADERS, type ConsoleKit } from '../http'
import type { SignedIn } from '../session'
import { AgentChatPage, AgentsPage, agentChatHref, CHAT_VERSION_HEADER, chatVersion, type ChatForm, type ChatRead, type PublicChat } from '../views/agents'
import { MessagePage } from '../views/auth'
import type { Nav } from '../views/layout'
import { errorOf, fieldErrorOf, navOf } from './settings'
import { cutText } from '../../text'

const IdParams = t.Object({ id: t.String() })

/** The header entry the agent pages belong to. */
const CURRENT = '/agents'

/**
 * The permissions of the API routes these pages mirror: GET /api/v1/agents and /agents/{id}
 * (agents:read), GET /api/v1/chats… (executions:read), POST /api/v1/agents/{id}/execute
 * (agents:execute). The role's refusal is the auth macro's own (src/auth/roles.ts).
 */
const LIST: Permission[] = ['agents:read']
const CHAT: Permission[] = ['agents:read', 'executions:read']
const RUN: Permission = 'agents:execute'

function refusalOf(who: SignedIn, permissions: Permission[]): AppError | null {
  for (const p of permissions) {
    const refused = roleRefusal(who.role, p)
    if (refused) return refused
  }
  return null
}

/** A query parameter as one string, or undefined. */
const param = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/** A chat id can only be one the execute body accepts (its schema): anything else names no chat. */
const isChatId = (id: string) => Value.Check(ExecuteBody.properties.chatId, id)

/**
 * A message to send, checked as POST /api/v1/agents/{id}/execute checks its body (its schema,
 * its words); a message of blanks only counts as empty here (a form's text area).
 */
function invalidTurn(message: string, chatId: string | undefined): AppError | null {
  const body = { message: message.trim() === '' ? '' : message, ...(chatId !== undefined && { chatId }) }
  if (Value.Check(ExecuteBody, body)) return null
  const fields = validationDetails({ all: [...Value.Errors(ExecuteBody, body)] })
  return new AppError('validation_failed', `Validation failed: ${fields.map((f) => f.message).join('; ')}`, { details: fields })
}

/**
 * Agents (header entry) and an agent's chat page, the `chatUrl` of POST /api/v1/agents: the
 * same services and rules as the API. The list is GET /api/v1/agents's (its visibility rule,
 * src/modules/agents/access.ts); the chat page shows an agent the person may see (another
 * organization's, another member's private one or an unknown id is the 404 page), their own
 * chats with it (the chats service: chats are private) and sends a message as
 * POST /api/v1/agents/{id}/execute does (its service, its permission, its errors).
 */
export function agentRoutes(kit: ConsoleKit) {
  const notFoundPage = async (nav: Nav, request: Request, e: AppError) =>
    page(await (<MessagePage nav={nav} title={nav.t.notFoundTitle} message={errorOf(request, e)} link={{ href: '/agents', label: nav.t.backToAgents }} />), { status: 404 })
  const refusedPage = async (nav: Nav, request: Request, e: AppError) =>
    page(await (<MessagePage nav={nav} title={nav.t.notAllowedTitle} message={errorOf(request, e)} link={{ href: '/agents', label: nav.t.backToAgents }} />), { status: e.status })

  /**
   * Agent `ref`'s chat page as the person may see it, chat `chatId` open (null: a new chat).
   * The 404 page when the API would answer 404 for the agent, or for the chat (not theirs, not
   * this agent's, none); `keepChat`: an unknown chat is left closed instead (a refused message).
   */
  const chatPage = async (
    who: SignedIn,
    request: Request,
    set: any,
    ref: string,
    o: { chatId?: string; cursor?: string; form?: ChatForm; status?: number; keepChat?: boolean; seen?: string } = {},
  ): Promise<Response> => {
    const ctx = kit.ctxOf(who, request, set)
    let agent: PublicAgent
    try {
      const refused = refusalOf(who, CHAT)
      if (refused) throw refused
      agent = await getAgent(ctx, ref)
    } catch (e) {
      if (e instanceof AppError) {
        const nav = await navOf(kit, who, request, set, CURRENT)
        return e.status === 404 ? notFoundPage(nav, request, e) : refusedPage(nav, request, e)
      }
      throw e
    }
    // The script's poll (CHAT_JS) names the version of the chat it shows: while the chat is still
    // at it, a 204 from the chat's head alone, instead of its messages (megabytes) and the page.
    if (o.seen !== undefined && o.chatId !== undefined && isChatId(o.chatId)) {
      const head = await readChatHead(ctx, o.chatId).catch((e) => {
        if (e instanceof AppError && e.status === 404) return null
        throw e
      })
      if (head !== null && head.agentId === agent.id && chatVersion(head) === o.seen) {
        return new Response(null, { status: 204, headers: { ...SECURITY_HEADERS, 'cache-control': 'no-store' } })
      }
    }
    const nav = await navOf(kit, who, request, set, CURRENT)
    let chat: ChatRead | null = null
    if (o.chatId !== undefined) {
      try {
        const missing = new AppError('not_found', `Chat ${cutText(o.chatId, 200)} not found.`)
        if (!isChatId(o.chatId)) throw missing
        chat = await readChat(ctx, o.chatId)
        // The page of one agent shows its chats: those whose latest message went to it (as the list's filter).
        if (chat.chat.agentId !== agent.id) throw missing
      } catch (e) {
        if (!(e instanceof AppError && e.status === 404)) throw e
        if (!o.keepChat) return notFoundPage(nav, request, e)
        chat = null
      }
    }
    let chats: PublicChat[] = []
    let chatsNext: string | null = null
    let chatsError: string | null = null
    let status = o.status ?? 200
    try {
      const r = await listChats(ctx, { agentId: agent.id, limit: 50, offset: 0, cursor: o.cursor })
      chats = r.chats
      chatsNext = r.nextCursor
    } catch (e) {
      if (!(e instanceof AppError)) throw e
      chatsError = errorOf(request, e)
      if (status < 400) status = e.status
    }
    const noRun = roleRefusal(who.role, RUN) ? 'role' : canUseAgent(who.caller, agent) ? null : 'archived'
    return page(await (<AgentChatPage nav={nav} agent={agent} chat={chat} chats={chats} chatsNext={chatsNext} chatsError={chatsError} noRun={noRun} form={o.form} />), { status })
  }

  // Adds its routes to the console's instance itself (a function plugin), as the other route files.
  return (app: Elysia) => app
    .get('/agents', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const nav = await navOf(kit, who, request, set, CURRENT)
      try {
        const refused = refusalOf(who, LIST)
        if (refused) return refusedPage(nav, request, refused)
        const r = await listAgentSummaries(kit.ctxOf(who, request, set), { limit: 100, offset: 0, cursor: param(query.cursor) })
        return page(await (<AgentsPage nav={nav} agents={r.agents} next={r.nextCursor} />))
      } catch (e) {
        if (e instanceof AppError) return page(await (<AgentsPage nav={nav} agents={[]} next={null} error={errorOf(request, e)} />), { status: e.status })
        throw e
      }
    }, hidden)
    .get('/agents/:id/chat', async ({ request, set, params, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const seen = request.headers.get(CHAT_VERSION_HEADER) ?? undefined
      return chatPage(who, request, set, params.id, { chatId: param(query.chat), cursor: param(query.cursor), seen })
    }, { ...hidden, params: IdParams })
    // Sends a message: a turn of POST /api/v1/agents/{id}/execute (async), in the chat `chatId`
    // when given (a new chat otherwise); 303 to the chat, which shows the turn running.
    .post('/agents/:id/chat', async ({ request, set, params, query, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      // A message that held a token comes back empty, with the refusal (src/http/secret-fields.ts).
      const message = typedField(body, 'message')
      const chatId = typedField(body, 'chatId') || undefined
      try {
        // Its hidden chat id too: the chat's page again (a new chat, when that was the field). A
        // field sent twice with different values, a body that is no form: the same (src/http/page-form.ts).
        const pasted = pageRefusal(body)
        if (pasted) throw pasted
        // In the API's order: the role (the auth macro), the body (its schema), then the agent.
        const refused = roleRefusal(who.role, RUN)
        if (refused) throw refused
        const invalid = invalidTurn(message, chatId)
        if (invalid) throw invalid
        const { execution } = await startExecution(kit.ctxOf(who, request, set), kit.engine, params.id, { message, chatId })
        return redirect(agentChatHref(execution.agentId ?? params.id, { chat: execution.chatId }))
      } catch (e) {
        if (!(e instanceof AppError)) throw e
        // The API refuses a role before it looks the agent up: a 403 whether or not the agent
        // exists. The page shows the agent only when the person may see it.
        if (e.status === 403 && !(await getAgent(kit.ctxOf(who, request, set), params.id).then(() => true, () => false))) {
          return refusedPage(await navOf(kit, who, request, set, CURRENT), request, e)
        }
        // The chat shown again: the form's, or when its field could not be read (sent twice with
        // different values, a body that is no form) the one the form's address names (its action).
        return chatPage(who, request, set, params.id, { chatId: chatId ?? param(query.chat), keepChat: true, form: { error: fieldErrorOf(request, e, { message: shown('message', (t) => t.messageLabel) }), message }, status: e.status })
      }
    }, { ...hidden, body: FormBody, params: IdParams })
}
