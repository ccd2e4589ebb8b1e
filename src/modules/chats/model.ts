import { t } from 'elysia'
import { Type } from '@sinclair/typebox'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { QueryBoolean } from '../query-params'
import { named, successField } from '../shared-models'

const chatId = 'chat_2Hn8Qw4Rt6Yu1Io3Pa5S'
const execId = 'exec_8Kq2LmX9vB3nR8kT1wYz'
export const exampleChat = {
  id: chatId,
  title: 'Review the open pull requests',
  agentId: 'char_4Fk9QzL2mP7xR1vN8tBc',
  agentName: 'Code Reviewer',
  spaceId: null,
  sessionId: chatId,
  status: 'done',
  lastExecutionId: execId,
  lastExecutionStatus: 'completed',
  messageCount: 4,
  executionCount: 2,
  createdAt: '2026-11-23T10:00:00.000Z',
  lastMessageAt: '2026-11-23T10:05:00.000Z',
  updatedAt: '2026-11-23T10:05:03.100Z',
}
const exampleMessages = [
  { role: 'user', content: 'Review the open pull requests', createdAt: '2026-11-23T10:05:00.000Z', executionId: execId, toolCalls: [] },
  { role: 'assistant', content: 'Two pull requests need changes: ...', createdAt: '2026-11-23T10:05:03.100Z', executionId: execId, toolCalls: [] },
]

const Int = (description: string) => Type.Integer({ description })
const ChatStatus = t.Union([t.Literal('working'), t.Literal('done'), t.Literal('error'), t.Literal('standby')], {
  description: "TeamDay's chat status, from the latest execution's: working (pending or running), done (completed), error (failed), standby (cancelled)",
})

export const Chat = t.Object(
  {
    id: t.String({ description: 'The chat id: the `chatId` of its executions (pass it as `chatId` to an execute to continue the chat)' }),
    title: t.String({ description: 'The first line of its first message, at most 80 characters' }),
    agentId: t.Nullable(t.String({ description: 'The agent of its latest message (char_…); null for the built-in default assistant, and for an agent you may no longer see (another member\'s agent made private since: `agentName` is then `[hidden agent]`)' })),
    agentName: t.String({ description: 'That agent\'s name ("Assistant" for the default assistant, `[hidden agent]` for one you may no longer see)' }),
    spaceId: t.Nullable(t.String({ description: 'The space its latest message ran in (space_…); null for none' })),
    sessionId: t.String({ description: 'The sessionId of its latest execution (pass it as `sessionId` to continue the conversation)' }),
    status: ChatStatus,
    lastExecutionId: t.String({ description: 'Its latest execution (exec_…)' }),
    lastExecutionStatus: t.String({ description: 'That execution\'s status: pending, running, completed, failed or cancelled' }),
    messageCount: Int('Its messages: each execution\'s message, and an answer for each that ended (a failed or cancelled one: its partial answer and why it ended)'),
    executionCount: Int('Its executions (one per message sent)'),
    createdAt: t.String({ description: 'When its first message was sent (ISO-8601)' }),
    lastMessageAt: t.String({ description: 'When its latest message was sent (ISO-8601): the order of the list' }),
    updatedAt: t.String({ description: 'When its latest execution last changed (ISO-8601)' }),
  },
  { description: 'A conversation: your executions that share a chatId, read from them', examples: [exampleChat] },
)

const ChatToolCall = t.Object(
  {
    name: t.String({ description: 'The tool called', examples: ['delegate'] }),
    input: t.Unknown({ description: 'The input the model gave the tool (JSON). A `delegate` call to an agent you may not see (another member\'s private agent) does not name it: `agentId` null, and `[hidden agent]` for its id in the rest of the call' }),
    output: t.Unknown({ description: 'What the tool returned' }),
  },
  { description: 'A tool call made while the answer was written' },
)

export const ChatMessage = t.Object(
  {
    role: t.Union([t.Literal('user'), t.Literal('assistant')], { description: 'user (the message sent) or assistant (the answer)' }),
    content: t.String({ description: 'The text' }),
    createdAt: t.String({ description: 'When it was sent (user) or the answer ended (assistant), ISO-8601' }),
    executionId: t.String({ description: 'The execution it belongs to (exec_…)' }),
    toolCalls: t.Array(ChatToolCall, { description: 'On an answer: the tool calls of its execution, in order; [] otherwise' }),
  },
  { description: 'One message of a chat' },
)

const messagesField = t.Array(ChatMessage, {
  description: 'Oldest first: each execution\'s message and, when it completed, its answer, as the execution stores them (a pending or running one: its message alone)',
})
const hasMoreField = t.Boolean({
  description: 'true when earlier messages are left out: an answer holds the latest 200 executions of the chat and at most 8 MiB of their messages. GET /executions/{id} reads any of them.',
})

export const ListChatsQuery = t.Object({
  agentId: t.Optional(t.String({ maxLength: 100, description: 'Only chats whose latest message went to this agent (its id or slug)', error: 'agentId must be an agent id or slug string' })),
  spaceId: t.Optional(t.String({ maxLength: 100, description: 'Only chats whose latest message ran in this space (its id or slug)', error: 'spaceId must be a space id or slug string' })),
  mission: t.Optional(QueryBoolean({ description: 'true: only chats started by missions (TeamDay\'s CLI, `chat --list-missions`); this server has no missions, so none', error: 'mission must be true or false' })),
  limit: limitParam,
  offset: offsetParam('Chats'),
  cursor: cursorParam,
})

export const ChatIdParams = t.Object({ id: t.String({ minLength: 1, maxLength: 200, description: 'Chat id: the chatId of its executions', examples: [chatId] }) })

export const ChatList = t.Object(
  { success: successField, chats: t.Array(Chat, { description: 'This page of your chats, latest message first' }), ...pageFields('chats') },
  { examples: [{ success: true, chats: [exampleChat], ...pageExample }] },
)

export const ChatEnvelope = t.Object(
  { success: successField, chat: Chat, messages: messagesField, hasMore: hasMoreField },
  { examples: [{ success: true, chat: exampleChat, messages: exampleMessages, hasMore: false }] },
)

export const ChatMessages = t.Object(
  {
    success: successField,
    chatId: t.String({ description: 'The chat' }),
    title: Chat.properties.title,
    status: ChatStatus,
    messages: messagesField,
    hasMore: hasMoreField,
  },
  { examples: [{ success: true, chatId, title: exampleChat.title, status: 'done', messages: exampleMessages, hasMore: false }] },
)

/** Named in the OpenAPI document; routes refer to them by name. */
export const chatModels = named({ Chat, ChatMessage, ChatList, ChatEnvelope, ChatMessages })
