import { Elysia } from 'elysia'
import { API_V1, created, type RouteKit } from '../../http/context'
import { badCursor, listModels } from '../list-models'
import { intParam } from '../query-params'
import { authErrors, bodyErrors, sharedModels } from '../shared-models'
import { AddMemberBody, ListMembersQuery, MemberParams, memberModels, OrgParams, SetRoleBody } from './model'
import { addMember, getMember, listMembers, removeMember, setMemberRole } from './service'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const errors = { ...authErrors, 403: 'MemberForbidden', 404: 'MemberNotFound' } as const
const writeErrors = { ...errors, ...bodyErrors, 409: 'MemberConflict', 422: 'MemberBodyInvalid' } as const

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const membersApiModels = { ...sharedModels, ...listModels, ...memberModels }

/** `/organizations/{orgId}/members`: organization admins list, add, re-role and remove members. */
export function membersModule({ auth, ctx }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/organizations/:orgId/members`, tags: ['Members'] })
    .use(auth)
    .model(membersApiModels)
    .get(
      '',
      async ({ principal, params, query, request, set }) => ({
        success: true as const,
        ...(await listMembers(ctx(principal, request, set), params.orgId, { limit: intParam(query.limit, 50), offset: intParam(query.offset, 0), cursor: query.cursor })),
      }),
      {
        auth: 'members:read',
        params: OrgParams,
        query: ListMembersQuery,
        response: { 200: 'MemberList', 400: badCursor, 422: 'MemberQueryInvalid', ...errors },
        detail: {
          summary: 'List members',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the organization\'s members, newest first, in `members`; `nextCursor` leads to the next page.' },
          description:
            'The members of your organization, newest first: user id, e-mail, name, role, when they joined. Organization admins only (`members:read`); another organization\'s id is 404. Paged by `cursor` (the previous page\'s `nextCursor`) or `offset`; `total` counts them (up to 1000, see `totalIsEstimate`).',
        },
      },
    )
    .post(
      '',
      async ({ principal, params, body, request, set }) => {
        const r = await addMember(ctx(principal, request, set), params.orgId, body)
        created(set, 'organizations', params.orgId, 'members', r.member.userId)
        return { success: true as const, member: r.member, createdUser: r.createdUser }
      },
      {
        auth: 'members:write',
        params: OrgParams,
        body: AddMemberBody,
        response: { 201: 'AddedMember', ...writeErrors, 409: 'MemberAddConflict' },
        detail: {
          summary: 'Add a member',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The new member, in `member`; `createdUser` says whether the user was created for it.' },
          description:
            'Adds the user with this e-mail to your organization with `role`, creating the user when no user has the e-mail (`createdUser: true`; `name` is used then). The new member has no token yet: they get one from an admin (`teamday tokens create --email …` on the server host) or the console. A member already is 409 `already_member` (change the role with PATCH). An account that exists elsewhere on this server (in another organization, or with a password this organization did not give it) and was never a member here is 409 `conflict`: e-mail addresses are not verified, so it may have been claimed by someone else, and only the server operator attaches it (`teamday users create --email … --org …`). Tokens left from an earlier membership stay revoked. Audited as `member.added`. Admins only (`members:write`).',
        },
      },
    )
    .get(
      '/:userId',
      async ({ principal, params, request, set }) => ({ success: true as const, member: await getMember(ctx(principal, request, set), params.orgId, params.userId) }),
      {
        auth: 'members:read',
        params: MemberParams,
        response: { 200: 'MemberEnvelope', ...errors },
        detail: {
          summary: 'Get a member',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The member, in `member`.' },
          description:
            'One member of your organization by user id: e-mail, name, role, when they joined (where POST answers `Location`). A user who is not a member, or another organization\'s id, is 404. Organization admins only (`members:read`).',
        },
      },
    )
    .patch(
      '/:userId',
      async ({ principal, params, body, request, set }) => ({
        success: true as const,
        member: (await setMemberRole(ctx(principal, request, set), params.orgId, params.userId, body.role)).member,
      }),
      {
        auth: 'members:write',
        params: MemberParams,
        body: SetRoleBody,
        response: { 200: 'MemberEnvelope', ...writeErrors },
        detail: {
          summary: 'Change a member\'s role',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The member with the new role, in `member`.' },
          description:
            'Sets the member\'s role; it applies to every token of theirs from their next request (a token never exceeds its user\'s role). Demoting the organization\'s last admin is 409 `last_admin`. Audited as `member.role_changed` (from, to). Admins only (`members:write`).',
        },
      },
    )
    .delete(
      '/:userId',
      async ({ principal, params, request, set }) => ({ success: true as const, ...(await removeMember(ctx(principal, request, set), params.orgId, params.userId)) }),
      {
        auth: 'members:write',
        params: MemberParams,
        response: { 200: 'RemovedMember', ...errors, 409: 'MemberConflict' },
        detail: {
          summary: 'Remove a member',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The member removed, in `member`, and the ids of the tokens this revoked, in `revokedTokenIds`.' },
          description:
            'Removes the user from your organization and revokes every token they have in it, at once: their next request is 401 `token_revoked`, and adding them again later does not bring a token back. The user and their memberships elsewhere stay. Removing the last admin is 409 `last_admin`. Audited as `member.removed` (with the revoked token ids) and `token.revoked` per token. Admins only (`members:write`).',
        },
      },
    )
}
