import { t } from 'elysia'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { errorResponse, named, successField } from '../shared-models'
import { serviceRule } from '../../http/openapi-publish'
import { MAX_PERSON_NAME_LENGTH, namePattern } from '../../text'

/** An address as normalizeEmail takes it once trimmed: something, @, something, no white space or other @ (JSON Schema `pattern`). */
const EMAIL_PATTERN = '^\\s*[^\\s@]+@[^\\s@]+\\s*$'

export const exampleMember = {
  userId: 'user_4Fk9QzL2mP7xR1vN8tBc',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  role: 'member',
  joinedAt: '2026-11-23T10:00:00.000Z',
  lastSignInAt: null,
}

export const MemberRole = t.Union([t.Literal('admin'), t.Literal('member'), t.Literal('viewer')], {
  description: 'admin: everything in the organization, members and audit log included; member: creates and runs agents, spaces and tasks; viewer: reads only',
  error: 'role must be one of admin, member, viewer',
})

export const Member = t.Object(
  {
    userId: t.String({ description: 'User id (user_…)' }),
    email: t.String({ description: 'In one form (trimmed, NFKC, lower case): the login identity' }),
    name: t.Nullable(t.String({ description: "The user's display name; null if not set" })),
    role: MemberRole,
    joinedAt: t.String({ format: 'date-time', description: 'When the user was added to this organization' }),
    lastSignInAt: t.Nullable(t.String({ format: 'date-time' }), { description: 'Last sign-in to the web console (/login); null when never' }),
  },
  { description: 'A user and their role in this organization', examples: [exampleMember] },
)

export const MemberList = t.Object(
  { success: successField, members: t.Array(Member, { description: 'This page of members, newest first (by when they were added)' }), ...pageFields('members') },
  { examples: [{ success: true, members: [exampleMember], ...pageExample }] },
)

export const MemberEnvelope = t.Object({ success: successField, member: Member }, { examples: [{ success: true, member: { ...exampleMember, role: 'admin' } }] })

export const AddedMember = t.Object(
  {
    success: successField,
    member: Member,
    createdUser: t.Boolean({ description: 'true when no user had this e-mail: the user was created' }),
  },
  { examples: [{ success: true, member: exampleMember, createdUser: true }] },
)

export const RemovedMember = t.Object(
  {
    success: successField,
    member: Member,
    revokedTokenIds: t.Array(t.String(), { description: 'The tokens the user had in this organization, revoked now (they stay revoked if the user is added again)' }),
  },
  { examples: [{ success: true, member: exampleMember, revokedTokenIds: ['pat_7Hq2LmX9vB3nR8kT1wYz'] }] },
)

export const AddMemberBody = t.Object(
  {
    email: t.String({
      minLength: 3,
      maxLength: 254,
      description: 'The user\'s e-mail (name@domain, no control, zero-width or bidirectional formatting characters); the user is created when no user has it',
      error: 'email must be an e-mail address of at most 254 characters (it is required)',
      ...serviceRule({ pattern: EMAIL_PATTERN }),
    }),
    role: MemberRole,
    name: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 200,
        description: `Display name, for a user created now (an existing user keeps theirs): at most ${MAX_PERSON_NAME_LENGTH} characters once trimmed, with a visible character, and no control or bidirectional formatting characters; only spaces: no name`,
        error: 'name must be a string of 1-200 characters',
        ...serviceRule({ pattern: namePattern(MAX_PERSON_NAME_LENGTH, true) }),
      }),
    ),
  },
  { examples: [{ email: 'ada@example.com', role: 'member', name: 'Ada Lovelace' }, { email: 'ci-bot@example.com', role: 'viewer' }] },
)

export const SetRoleBody = t.Object({ role: MemberRole }, { examples: [{ role: 'admin' }] })

export const OrgParams = t.Object({ orgId: t.String({ maxLength: 100, description: 'Your organization id (org_…)', examples: ['org_9Tr4Kx2LmQ7vB1nZ8wYc'] }) })

export const MemberParams = t.Object({
  orgId: OrgParams.properties.orgId,
  userId: t.String({ maxLength: 100, description: 'The member\'s user id (user_…)', examples: ['user_4Fk9QzL2mP7xR1vN8tBc'] }),
})

export const ListMembersQuery = t.Object({ limit: limitParam, offset: offsetParam('Members'), cursor: cursorParam })

export const MemberNotFound = errorResponse(
  404,
  'not_found',
  'Not found: the organization is not your token\'s (another organization\'s members are never shown), or, on a route that names a user (get, change, remove), that user is not a member of it.',
  'User user_4Fk9QzL2mP7xR1vN8tBc is not a member of this organization',
)

/** The 409 of a role change or a removal (members/service.ts keepAnAdmin): `last_admin` only. */
export const MemberConflict = errorResponse(
  409,
  'last_admin',
  'Conflict (`last_admin`): the change would leave the organization without an admin (make someone else admin first).',
  'Conflict: ada@example.com is the last admin of this organization; make another member admin first, then demote this one (last admin).',
)

/** The 409 of an add (members/service.ts addMember): the two codes only an add answers; it said `last_admin` too, which none does. */
export const MemberAddConflict = errorResponse(
  409,
  'already_member',
  'Conflict: `already_member` when the user is a member already (change the role with PATCH; `details` has their `userId` and `role`); `conflict` when an account with that e-mail exists elsewhere on this server and was never a member here (the server operator attaches it).',
  'Conflict: ada@example.com is already a member of this organization (role member); to change the role, use PATCH /api/v1/organizations/org_8Kq2LmX9vB3nR8kT1wYz/members/user_8Kq2LmX9vB3nR8kT1wYz',
  { userId: 'user_8Kq2LmX9vB3nR8kT1wYz', role: 'member' },
)

export const MemberBodyInvalid = errorResponse(422, 'validation_failed', 'Validation failed: `details` names the invalid field (e-mail, role or name).', 'Validation failed: "not-an-email" is not a valid e-mail address', [
  { field: 'email', message: '"not-an-email" is not a valid e-mail address' },
])

export const MemberQueryInvalid = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

export const MemberForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: only organization admins see and manage members (members and viewers: access denied).',
  'Forbidden: your role (member) does not allow members:read (access denied)',
  { requiredPermission: 'members:read', role: 'member' },
)

/** Named in the OpenAPI document; routes refer to them by name. */
export const memberModels = named({
  Member,
  MemberList,
  MemberEnvelope,
  AddedMember,
  RemovedMember,
  MemberNotFound,
  MemberConflict,
  MemberAddConflict,
  MemberBodyInvalid,
  MemberQueryInvalid,
  MemberForbidden,
})
