import type { AgentSummary, PublicAgent } from '../../modules/agents/service'
import type { listChats, readChat } from '../../modules/chats/service'
import type { Messages } from '../i18n'
import { ASSET_HREF } from '../assets'
import { ErrorBox, invalidField, Layout, Table, When, type ErrorText, type Nav } from './layout'

/** One chat as the chats service lists it (GET /api/v1/chats). */
export type PublicChat = Awaited<ReturnType<typeof listChats>>['chats'][number]
/** One chat with its messages, oldest first (GET /api/v1/chats/{id}). */
export type ChatRead = Awaited<ReturnType<typeof readChat>>

/** The script that keeps a chat page current while a turn runs (src/console/assets.ts, CHAT_JS). */
export const CHAT_SCRIPT = ASSET_HREF['/console/assets/chat.js']!
/** How often a page with a running turn reads itself again (with the script), in seconds; without it, the meta refresh's. */
const REFRESH_S = 2
const NOSCRIPT_REFRESH_S = 3

/**
 * The request header of the script's poll: the version of the open chat it shows (chatVersion);
 * the page answers 204 while the chat is still at that version, the whole page once it changed.
 */
export const CHAT_VERSION_HEADER = 'x-chat-version'

/** The state of a chat its page shows, in one string: its latest turn, that turn's status and last change, and the count of messages. */
export function chatVersion(c: Pick<PublicChat, 'lastExecutionId' | 'lastExecutionStatus' | 'updatedAt' | 'messageCount'>): string {
  return `${c.lastExecutionId}.${c.lastExecutionStatus}.${c.updatedAt}.${c.messageCount}`
}

/**
 * The message box's maxlength, lower than the API's 200,000 characters: a form is sent
 * urlencoded, up to 9 bytes a character (a character of 3 UTF-8 bytes, CJK for instance, is
 * three %XX escapes), and the body limit is 1 MiB for every request. 100,000 such characters,
 * with the field names and the longest chat id, are about 900,600 bytes: whatever the form
 * allows gets through. Longer messages go through the API (JSON: 3 bytes for such a character).
 */
export const CHAT_MAX_CHARS = 100_000

/**
 * An agent's chat page: the `chatUrl` POST /api/v1/agents answers (`/agents/{id}/chat`), with
 * one of the person's chats open (`?chat=`) and a page of the chat list (`?cursor=`).
 */
export function agentChatHref(agentRef: string, o: { chat?: string | null; cursor?: string | null } = {}): string {
  const q = new URLSearchParams()
  if (o.chat) q.set('chat', o.chat)
  if (o.cursor) q.set('cursor', o.cursor)
  const s = q.toString()
  return `/agents/${encodeURIComponent(agentRef)}/chat${s ? `?${s}` : ''}`
}

function visibilityText(t: Messages, v: PublicAgent['visibility']): string {
  return v === 'private' ? t.visibilityPrivate : v === 'organization' ? t.visibilityOrganization : v === 'public' ? t.visibilityPublic : t.visibilityUnlisted
}

function chatStatusText(t: Messages, s: PublicChat['status']): string {
  return s === 'working' ? t.chatWorking : s === 'done' ? t.chatDone : s === 'error' ? t.chatError : t.chatStandby
}

/** Agents: the agents the person may see (GET /api/v1/agents), each linking to its chat page. */
export function AgentsPage(props: { nav: Nav; agents: AgentSummary[]; next: string | null; error?: string | null }) {
  const { t } = props.nav
  return (
    <Layout title={t.agentsTitle} nav={props.nav}>
      <p class="muted">{t.agentsIntro}</p>
      <ErrorBox message={props.error} />
      {props.agents.length === 0 ? (
        <p class="muted">{t.noAgents}</p>
      ) : (
        <Table head={[t.colName, t.description, t.colVisibility, t.colCreated]}>
              {props.agents.map((a) => (
                <tr>
                  <td>
                    <a href={agentChatHref(a.id)} safe>
                      {a.name}
                    </a>
                  </td>
                  <td safe>{a.description ?? ''}</td>
                  <td safe>{visibilityText(t, a.visibility)}</td>
                  <td>
                    <When at={a.createdAt} t={t} />
                  </td>
                </tr>
              ))}
        </Table>
      )}
      {props.next ? (
        <p>
          <a href={`/agents?${new URLSearchParams({ cursor: props.next })}`}>{t.moreAgents}</a>
        </p>
      ) : (
        ''
      )}
    </Layout>
  )
}

export interface ChatForm {
  /**
   * The error of a refused message (the service's, in the page's language), and the field it is
   * about: the message box is marked invalid only for an error about the message (not for a
   * server without a model provider, a role, a queue that is full), and described by any.
   */
  error?: ErrorText
  /** The message as it was sent, kept in the form after an error. */
  message?: string
}

export interface AgentChatProps {
  nav: Nav
  agent: PublicAgent
  /** The open chat, or null for a new one. */
  chat: ChatRead | null
  /** A page of the person's chats with this agent, latest first, and the next page's cursor. */
  chats: PublicChat[]
  chatsNext: string | null
  chatsError?: string | null
  /** Why no message can be sent: the role lacks agents:execute, or the agent is archived; null: the form shows. */
  noRun: 'role' | 'archived' | null
  form?: ChatForm
}

/**
 * An agent's chat page: its name and description; the open chat's messages, oldest first (each
 * user and assistant message as the chats service gives them, a failed or cancelled turn's
 * answer saying so); while its latest turn runs, a notice that the page refreshes itself; the
 * message form (POST /agents/{id}/chat); the person's own chats with this agent.
 */
export function AgentChatPage(props: AgentChatProps) {
  const { t } = props.nav
  const a = props.agent
  const open = props.chat
  const running = open?.chat.status === 'working'
  const form = props.form ?? {}
  return (
    <Layout title={a.name} documentTitle={t.chatPageTitle(open ? open.chat.title || open.chat.id : null, a.name)} nav={props.nav} script={CHAT_SCRIPT} refresh={running ? NOSCRIPT_REFRESH_S : undefined}>
      <nav aria-label={t.agentsTitle} class="subnav">
        <ul>
          <li>
            <a href="/agents">{t.backToAgents}</a>
          </li>
          <li>
            <a href={agentChatHref(a.id)}>{t.newChat}</a>
          </li>
          <li>
            <a href="#chats">{t.yourChats}</a>
          </li>
        </ul>
      </nav>
      {a.description ? <p safe>{a.description}</p> : ''}
      <section aria-labelledby="conversation-title" id="conversation">
        <h2 id="conversation-title" safe>
          {open ? open.chat.title || open.chat.id : t.newChat}
        </h2>
        {open ? (
          <>
            {open.hasMore ? <p class="muted">{t.chatHasMore}</p> : ''}
            <ol class="chat" aria-label={t.chatMessages}>
              {open.messages.map((m) => (
                <li class={m.role}>
                  <bdi class="who" safe>
                    {m.role === 'user' ? t.chatYou : a.name}
                  </bdi>
                  <When at={m.createdAt} t={t} />
                  <div class="text" safe>
                    {m.content}
                  </div>
                </li>
              ))}
            </ol>
            {running ? (
              <p class="notice" data-refresh={String(REFRESH_S)} data-version={chatVersion(open.chat)}>
                {t.chatRunning}
              </p>
            ) : (
              ''
            )}
          </>
        ) : (
          <p class="muted">{t.chatEmptyNew}</p>
        )}
      </section>
      {open ? (
        // Outside the part the script swaps: what it says here is announced (the answer arrived,
        // the session ended, it retries, the chat is gone), in the page's language.
        <p
          id="chat-status"
          class="live"
          role="status"
          aria-live="polite"
          data-text-answered={t.chatAnswered}
          data-text-ended={t.chatSessionEnded}
          data-text-sign-in={t.chatSignInAgain}
          data-text-retrying={t.chatRetrying}
          data-text-gone={t.chatGone}
          data-text-failed={t.chatRefreshFailed}
          // The sign-in page, where a poll of an ended session is sent (under a sub-path with it:
          // the page's links are given the base path, this one too; src/http/base-path.ts).
          data-href="/login"
        ></p>
      ) : (
        ''
      )}
      <ErrorBox message={form.error} id="chat-error" focus="field" />
      {props.noRun === null ? (
        // The open chat in the action's query too: a refusal before the page runs (a body over the
        // limit) links back to this chat (src/console/error-pages.tsx).
        <form method="post" action={agentChatHref(a.id, { chat: open?.chat.id })} class="chat-form">
          {open ? <input type="hidden" name="chatId" value={open.chat.id} /> : ''}
          <label>
            {t.messageLabel}
            <textarea
              name="message"
              rows="4"
              required
              maxlength={String(CHAT_MAX_CHARS)}
              autofocus={open !== null || !!form.error}
              aria-invalid={invalidField(form.error, 'chat-error', 'message')['aria-invalid']}
              aria-describedby={form.error ? 'chat-error' : undefined}
              safe
            >
              {form.message ?? ''}
            </textarea>
          </label>
          <div>
            <button type="submit" class="primary">
              {open ? t.sendMessage : t.startChat}
            </button>
          </div>
        </form>
      ) : props.noRun === 'role' ? (
        <p class="muted">
          {t.chatNoRun} <code>agents:execute</code>.
        </p>
      ) : (
        <p class="muted">{t.chatArchived}</p>
      )}
      <section aria-labelledby="chats-title" id="chats">
        <h2 id="chats-title">{t.yourChats}</h2>
        <p class="muted">{t.yourChatsIntro}</p>
        <ErrorBox message={props.chatsError} />
        {props.chats.length === 0 ? (
          <p class="muted">{t.noChats}</p>
        ) : (
          <Table head={[t.colChat, t.colStatus, t.colMessages, t.colLastMessage]}>
                {props.chats.map((c) => (
                  <tr>
                    <td>
                      <a href={agentChatHref(a.id, { chat: c.id })} aria-current={open?.chat.id === c.id ? 'page' : undefined} safe>
                        {c.title || c.id}
                      </a>
                    </td>
                    <td class={`status-${c.status}`} safe>
                      {chatStatusText(t, c.status)}
                    </td>
                    <td safe>{String(c.messageCount)}</td>
                    <td>
                      <When at={c.lastMessageAt} t={t} />
                    </td>
                  </tr>
                ))}
          </Table>
        )}
        {props.chatsNext ? (
          <p>
            <a href={`${agentChatHref(a.id, { chat: open?.chat.id, cursor: props.chatsNext })}#chats`}>{t.moreChats}</a>
          </p>
        ) : (
          ''
        )}
      </section>
    </Layout>
  )
}
