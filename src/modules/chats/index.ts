import { Elysia } from 'elysia'
import { API_V1, type RouteKit } from '../../http/context'
import { badCursor, listModels } from '../list-models'
import { boolParam, intParam } from '../query-params'
import { authErrors, errorResponse, named, sharedModels } from '../shared-models'
import { ChatIdParams, chatModels, ListChatsQuery } from './model'
import { listChats, readChat } from './service'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const notFound = errorResponse(404, 'not_found', 'Not found: you have no chat with this id in this organization (another user\'s chat, or another organization\'s, is not yours to read).', 'Chat chat_2Hn8Qw4Rt6Yu1Io3Pa5S not found.')
const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])
const chatErrorModels = named({ ChatNotFound: notFound, ChatQueryInvalid: badQuery })

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const chatsApiModels = { ...sharedModels, ...listModels, ...chatModels, ...chatErrorModels }

const PRIVATE =
  'A chat is read from executions: your top-level executions that share a `chatId` (the chatId of an execute\'s answer and of its stream\'s `meta` event). Chats are private: you see only your own, admins included (they read other users\' runs through /executions); another user\'s chat, or another organization\'s, is 404.'

export function chatsModule({ auth, ctx }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/chats`, tags: ['Executions'] })
    .use(auth)
    .model(chatsApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => ({
        success: true as const,
        ...(await listChats(ctx(principal, request, set), {
          agentId: query.agentId,
          spaceId: query.spaceId,
          mission: boolParam(query.mission),
          limit: intParam(query.limit, 50),
          offset: intParam(query.offset, 0),
          cursor: query.cursor,
        })),
      }),
      {
        auth: 'executions:read',
        query: ListChatsQuery,
        response: { 200: 'ChatList', 400: badCursor, 422: 'ChatQueryInvalid', ...authErrors },
        detail: {
          summary: 'List chats',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of your chats in this organization, latest message first, in `chats`; `nextCursor` leads to the next page.' },
          description: `Your chats in this organization, latest message first. ${PRIVATE} Filters: \`agentId\` and \`spaceId\` (ids or slugs: the agent and the space of a chat's latest message); \`mission=true\` (chats started by missions) is always empty here. Paged by \`cursor\` (the previous page's \`nextCursor\`) or \`offset\`; \`total\` as in every list.`,
        },
      },
    )
    .get('/:id', async ({ principal, params, request, set }) => ({ success: true as const, ...(await readChat(ctx(principal, request, set), params.id)) }), {
      auth: 'executions:read',
      params: ChatIdParams,
      response: { 200: 'ChatEnvelope', 404: 'ChatNotFound', ...authErrors },
      detail: {
        summary: 'Get a chat',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The chat in `chat` and its messages, oldest first, in `messages`; `hasMore` when there are more than this answer holds.' },
        description: `The chat and its messages, oldest first: each execution's message and, once it completed, its answer (with the tool calls made for it). ${PRIVATE} One answer holds the latest 200 executions and about 8 MiB of them; \`hasMore\` says when earlier ones are left out.`,
      },
    })
    .get(
      '/:id/messages',
      async ({ principal, params, request, set }) => {
        const { chat, messages, hasMore } = await readChat(ctx(principal, request, set), params.id)
        return { success: true as const, chatId: chat.id, title: chat.title, status: chat.status, messages, hasMore }
      },
      {
        auth: 'executions:read',
        params: ChatIdParams,
        response: { 200: 'ChatMessages', 404: 'ChatNotFound', ...authErrors },
        detail: {
          summary: 'List a chat\'s messages',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The chat\'s messages, oldest first, with its `chatId`, `title` and `status` (the shape TeamDay\'s CLI reads).' },
          description: `The messages of a chat, oldest first, with its title and status (what TeamDay's CLI reads for \`chat --read\`): the same messages as GET /chats/{id}. ${PRIVATE}`,
        },
      },
    )
}
