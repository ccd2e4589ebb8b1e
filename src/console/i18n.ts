import { redactSecrets } from '../auth/tokens'

/**
 * The console's languages: English (default) and German, chosen per request from
 * Accept-Language (q-values honoured). One catalogue: every text a console page shows is here,
 * in both languages (TypeScript refuses a key missing from one; test/console-i18n.test.ts too).
 *
 * Static texts are `as const` string literals: the JSX XSS scan treats literal types as safe,
 * so they are written as they are (the catalogue test checks none holds `<` or `&`). Texts made
 * by a function may carry user input (a name, an e-mail) and always go through `safe`.
 *
 * The German wording follows TeamDay's German docs ("Einstellungen → API-Zugriff", "Neues Token
 * generieren", "7-365 Tage, Standard: 90 Tage", "Kopieren Sie Ihr Token sofort - Sie können es
 * später nicht mehr sehen!").
 */

export const LANGS = ['en', 'de'] as const
export type Lang = (typeof LANGS)[number]

/**
 * The language of a request: the Accept-Language range with the highest q (ties: the first
 * listed) whose primary tag is one the console speaks; `*` means English; English when none.
 */
export function langOf(request: Request): Lang {
  const header = request.headers.get('accept-language')
  if (!header) return 'en'
  let best: { lang: Lang; q: number } | null = null
  for (const part of header.slice(0, 1000).split(',').slice(0, 50)) {
    const [range, ...params] = part.trim().split(';')
    const tag = (range ?? '').trim().toLowerCase()
    if (!tag) continue
    let q = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)
      if (m) q = Number(m[1])
    }
    if (!(q > 0)) continue
    const primary = tag.split('-')[0]
    const lang: Lang | null = primary === 'de' ? 'de' : primary === 'en' || tag === '*' ? 'en' : null
    if (lang && (best === null || q > best.q)) best = { lang, q }
  }
  return best?.lang ?? 'en'
}

/**
 * Bidi controls (U+202A-U+202E overrides and embeddings, U+2066-U+2069 isolates, the marks) and
 * right-to-left letters: a name with one, inside a sentence, reorders the text around it
 * ("Support \u202Etob" turned what followed it around).
 */
const BIDI = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]/u

/**
 * A person's text (a name, an e-mail, a browser) for a sentence the catalogue makes, where no
 * <bdi> can go (an aria-label, a title, a text passed on as one string): between U+2068 FIRST
 * STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE when it holds anything that could reorder
 * the sentence, else as it is. In markup, views use <bdi> instead.
 */
export function isolate(text: string): string {
  return BIDI.test(text) ? `\u2068${text}\u2069` : text
}

/**
 * The texts, built when a page first asks for them (messages, CATALOGUE), not when the module is
 * loaded: every `teamday serve` loads the console with the API, and evaluating both languages' ~340
 * texts and functions cost a start ~2 ms of CPU that an API-only server never needed
 * (docs/performance.md, thirty-first session).
 */
function english() {
  return {
    // Layout
    navLabel: 'Console',
    skipToContent: 'Skip to content',
    navSettings: 'Settings',
    navAgents: 'Agents',
    navSpaces: 'Spaces',
    navMembers: 'Members',
    navAudit: 'Audit log',
    navApiDocs: 'API docs',
    /** The header's organization switcher (for screen readers; its button says Switch). */
    switchToOrganization: 'Switch to organization',
    switchOrg: 'Switch',
    signOut: 'Sign out',
    never: 'never',
    from: 'from',
    refusedTitle: 'Refused',
    refusedHeading: 'Cross-origin request refused',
    refusedText: 'This form was sent from another site. Go back to the console and try again.',

    // Sign-in, set-up and set-password links
    signInTitle: 'Sign in',
    email: 'E-mail',
    password: 'Password',
    signInButton: 'Sign in',
    noPasswordYet: 'No password yet? Ask an administrator for a set-password link, or on the server run:',
    yourName: 'Your name',
    newPassword: 'New password',
    atLeastChars: (n: number) => `(at least ${n} characters)`,
    repeatPassword: 'Repeat the password',
    setPasswordButton: 'Set password',
    setupTitle: 'Set up teamday',
    setupIntro: 'Welcome. Choose the password of the first administrator. This link works once.',
    setPasswordTitle: 'Set your password',
    setPasswordIntro: 'Choose your console password. This link works once.',
    linkInvalidTitle: 'Link not valid',
    linkInvalid: 'This link is invalid, already used or expired. Ask an administrator for a new one.',
    passwordsDiffer: 'The two passwords differ.',
    wrongCredentials: 'Wrong e-mail or password.',
    tooManySignIns: (minutes: number) => `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    needsHttps:
      'Sign-in is only offered over HTTPS (or from this machine over http://localhost): over plain HTTP the password and the session cookie would cross the network readable by anyone on the way. Open this page with https://: let teamday serve HTTPS itself (teamday serve --tls-cert FILE --tls-key FILE), or put a TLS-terminating reverse proxy in front (TEAMDAY_TRUSTED_PROXIES, X-Forwarded-Proto).',
    passwordSetNotice: 'Password set. Sign in with it now.',

    // Settings → Profile
    profileTitle: 'Profile',
    roleIn: ' of ',
    roleAdmin: 'admin',
    roleMember: 'member',
    roleViewer: 'viewer',
    nameAndEmail: 'Name and e-mail',
    name: 'Name',
    emailHint: '(you sign in with it)',
    currentPassword: 'Current password',
    currentPasswordHint: '(needed to change the e-mail)',
    save: 'Save',
    changePassword: 'Change password',
    lastChanged: 'Last changed:',
    changeSignsOut: 'Changing it signs you out everywhere else.',
    repeatNewPassword: 'Repeat the new password',
    sessionsTitle: 'Sessions',
    sessionsIntro: 'Browsers signed in to this console as you. End one you do not recognise, or one on a computer you no longer use.',
    colBrowser: 'Browser',
    colSignedIn: 'Signed in',
    colLastActive: 'Last active',
    colEnds: 'Ends',
    colActions: 'Actions',
    unknownBrowser: 'unknown browser',
    thisBrowser: ' (this browser)',
    signOutThisBrowser: 'Sign out of this browser',
    endSessionOf: (browser: string) => `End the session of ${isolate(browser)}`,
    thatBrowser: 'that browser',
    endSession: 'End',
    signOutEverywhere: 'Sign out everywhere',
    noticeSaved: 'Saved.',
    noticePasswordChanged: 'Password changed. Your other sessions have ended.',
    noticeSessionEnded: 'Session ended: that browser is signed out.',
    errNoSuchSession: 'No such session of yours: it may have ended already.',
    errTooManyWrongPasswords: 'Too many wrong passwords. Try again in 10 minutes.',
    errWrongCurrentPassword: 'The current password is wrong.',
    errNewPasswordsDiffer: 'The two new passwords differ.',
    confirmAccessTitle: 'Confirm access',
    confirmAccessIntro:
      'Creating or rotating a Personal Access Token, approving a CLI sign-in, adding a member, raising a member\'s role and giving someone a password link need your password when you last typed it more than 2 hours ago. Type it to go on: what you sent is kept and goes through once the password is right, and you will not be asked again for 2 hours.',
    confirmAccessAs: (email: string) => `Signed in as ${isolate(email)}`,
    confirmAccessButton: 'Confirm password',
    errWrongPassword: 'The password is wrong. You are still signed in; try again.',

    // Settings → Profile → Personal Access Tokens
    patTitle: 'Personal Access Tokens',
    patIntro: 'Tokens authenticate the API: send one as Authorization: Bearer td_…',
    createToken: 'Create Token',
    tokenNameHint: '(e.g. "CI Pipeline", "Production Automation")',
    expiration: 'Expiration',
    expiry7: '7 days - for testing and short-term use',
    expiry30: '30 days - for monthly automation',
    expiry90: '90 days (recommended)',
    expiry180: '180 days - for long-running integrations',
    expiry365: '365 days - maximum',
    customDate: 'Custom date (7-365 days from today)',
    customDateLabel: 'Custom expiration date',
    scopes: 'Scopes',
    fullAccess: 'Full access: everything your role allows (default)',
    orPerResource: 'Or untick full access and choose per resource:',
    colResource: 'Resource',
    actionRead: 'read',
    actionWrite: 'write',
    actionExecute: 'execute',
    allTokens: 'All tokens of the organization',
    yourTokens: 'Your tokens',
    showOnlyMine: 'Show only mine',
    showAllOfOrg: 'Show every token of the organization',
    hideInactive: 'Hide revoked and expired tokens',
    showInactive: 'Show revoked and expired tokens',
    noTokensYet: 'No tokens yet.',
    noActiveTokens: 'No active tokens.',
    tokensShown: (from: number, to: number, total: number, estimate: boolean) => `Tokens ${from}-${to} of ${estimate ? 'more than ' : ''}${total}`,
    tokenPages: 'Pages of the token list',
    previousPage: '← Previous page',
    nextPage: 'Next page →',
    pageNumber: (page: number) => `Page ${page}`,
    colName: 'Name',
    colOwner: 'Owner',
    colCreated: 'Created',
    colLastUsed: 'Last used',
    colExpires: 'Expires',
    colToken: 'Token',
    colScopes: 'Scopes',
    colStatus: 'Status',
    expired: 'expired',
    remaining: (days: number, hours: number, minutes: number) =>
      days > 0
        ? `${days} day${days === 1 ? '' : 's'}`
        : [hours > 0 ? `${hours} hour${hours === 1 ? '' : 's'}` : '', minutes > 0 || hours === 0 ? `${minutes} minute${minutes === 1 ? '' : 's'}` : ''].filter(Boolean).join(' '),
    expiresIn: (remaining: string) => `expires in ${remaining}`,
    stopsIn: (remaining: string) => `stops in ${remaining}`,
    revokedOn: 'revoked',
    expiredOn: 'expired',
    statusActive: 'active',
    statusExpired: 'expired',
    statusRevoked: 'revoked',
    activeUntil: 'active until',
    rotatedNote: '(rotated)',
    /** `owner`: another person's token (an admin's list of every token), named with its owner. */
    revokeTokenLabel: (name: string, owner?: string) => (owner ? `Revoke token ${isolate(name)} of ${isolate(owner)}` : `Revoke token ${isolate(name)}`),
    revokeOwnerNote: (owner: string) => `This token belongs to ${isolate(owner)}: their scripts, pipelines and integrations that use it stop working.`,
    rotateTokenLabel: (name: string) => `Rotate token ${isolate(name)}`,
    revokeTitle: 'Revoke',
    revokeAsk1: 'Revoke "',
    revokeAsk2: '"?',
    revokeWarning: 'Revoking a token will break any scripts, CI/CD pipelines, or integrations using it. Make sure to update those systems before revoking.',
    /** Before the list, for a browser without JavaScript: its trash icon posts at once, with no dialog to show the warning. */
    revokeAtOnce: 'The trash icon next to a token revokes it immediately.',
    /** The Scopes column of a token with `*`, as the create form calls it. */
    scopeFullAccess: 'full access',
    revokeGraceNote: 'It was rotated and still works until the end of its grace period; revoking it stops it now.',
    cancel: 'Cancel',
    revokeConfirm: 'Revoke token',
    graceLabel: (name: string) => `Old token keeps working for (rotating ${isolate(name)})`,
    graceNone: 'old stops now',
    graceHour: 'old works 1 more hour',
    graceDay: 'old works 1 more day',
    rotate: 'Rotate',
    noticeTokenRevoked: 'Token revoked: requests with it are refused from now on.',
    noticeCliRevoked: 'CLI sign-in revoked: that terminal is signed out; its access and refresh tokens are refused from now on.',
    errCustomDate: 'Validation failed: choose a custom expiration date (7-365 days from today)',
    errDateNotChosen: 'Validation failed: a custom expiration date is filled in, but another period is chosen. Choose "Custom date" to use the date, or clear it.',
    errNoScope: 'Validation failed: no scope chosen. Tick full access, or at least one scope of a resource.',
    // A token in a form's field (src/http/secret-fields.ts): one a person types into, named by its label; one the page fills in itself.
    errTokenInField: (label: string) =>
      `Validation failed: "${isolate(label)}" must not contain a token or another secret. Nothing was saved. A token belongs only where it is asked for: to give an agent one, set it as an environment variable of a space (Spaces → the space → Environment Variables), where it is sealed and never shown.`,
    errTokenInPageField:
      'Validation failed: this form arrived with a token in a field that the page fills in itself, not in one you type into: something changed the form after the page was shown (a browser extension or a script, for example). Nothing was done. Reload the page and send the form again.',
    // A form refused as a whole (src/http/page-form.ts): a field sent twice with different values (named
    // by its label; one the page fills in itself), a body that is no form (`type`: as it came, '' for none).
    errRepeatedField: (label: string) =>
      `Validation failed: "${isolate(label)}" was sent more than once, with different values; a form sends it once. Nothing was done: fill in the form and send it again.`,
    errRepeatedPageField:
      'Validation failed: this form arrived with a field that the page fills in itself sent more than once, with different values: something changed the form after the page was shown (a browser extension or a script, for example). Nothing was done. Reload the page and send the form again.',
    errUnreadableForm: (type: string) =>
      `Validation failed: the form could not be read: it was sent ${type === '' ? 'without a Content-Type' : `as ${isolate(type)}`}, and the console's forms send their fields URL-encoded (application/x-www-form-urlencoded). Nothing was done: fill in the form and send it again from its page.`,
    errExpiryChoice: 'Validation failed: choose one of the offered expiration periods (7, 30, 90, 180 or 365 days), or "Custom date" with a date.',
    errGraceChoice: 'Validation failed: choose one of the offered periods for the old token (stops now, 1 more hour, 1 more day).',
    graceField: 'Old token keeps working for',

    // The new token, shown once
    tokenCreatedTitle: 'Token created',
    tokenRotatedTitle: 'Token rotated',
    copyNow: 'Copy the token immediately - it will only be shown once!',
    hashOnly: 'teamday keeps only its SHA-256 hash.',
    createdExpires: '", expires',
    replaces: (masked: string) => `; it replaces ${masked}`,
    oldStopsNow: 'The old token stopped working.',
    oldWorksUntil: 'The old token keeps working until',
    yourNewToken: 'Your new token',
    copy: 'Copy',
    copied: 'Copied',
    copyFailedShort: 'Copy failed',
    copyFailedToken: 'Copy failed: the browser did not allow it. The token is selected: copy it by hand (Ctrl+C, or Cmd+C on a Mac).',
    copyFailedLink: 'Copy failed: the browser did not allow it. The link is selected: copy it by hand (Ctrl+C, or Cmd+C on a Mac).',
    /** Where the token works, and with what (TeamDay's docs: "scoped to your current organization", "inherits your role permissions"). */
    tokenWorksIn: (org: string, role: string) => `It works only in the organization ${isolate(org)}, with your role there (${role}): never more than you may do yourself.`,
    storeSecurely: 'Store it securely',
    storeInEnv: 'In an environment variable:',
    storeUnix: 'Unix/Linux/macOS',
    storeWindows: 'Windows (PowerShell)',
    storeDotenv: 'Or in a .env file (for local development; list .env in .gitignore)',
    storeElsewhere:
      'In CI/CD: as a secret of the pipeline (GitHub Secrets, GitLab CI/CD variables), or in a secret manager (AWS Secrets Manager, HashiCorp Vault, 1Password). Never in source code, a git repository, Slack or e-mail, or a plain text file on a shared drive.',
    useIt: 'Use it',
    securityGuidelines: 'Security guidelines',
    guidelines: [
      'Never commit tokens to version control - use environment variables or secret managers',
      'Rotate tokens regularly - set appropriate expiration dates',
      'Use separate tokens per integration - makes revocation easier',
      'Name tokens descriptively - know where each token is used',
      'Revoke unused tokens immediately - reduce security surface area',
      'Never share tokens - each team member should have their own',
    ],
    backToTokens: 'Done: back to your tokens',

    // CLI sign-in
    cliTitle: 'CLI sign-ins',
    /** The approval page's choice of organization (the header's switcher is another select). */
    cliOrganization: 'Organization to sign the tool in to',
    cliIntro1: 'Terminals signed in through the browser (',
    cliIntro2: ", TeamDay's ",
    cliIntro3: '). Revoking one stops its access and refresh tokens at once.',
    noCliSessions: 'No command-line tool is signed in.',
    colDevice: 'Device',
    unknownProgram: 'unknown program',
    thisProgram: 'this program',
    revokeCliLabel: (device: string) => `Revoke the sign-in of ${isolate(device)}`,
    revoke: 'Revoke',
    cliAuthorizeTitle: 'Sign in a command-line tool?',
    cliAsks1: 'A command-line tool asks to act as ',
    cliAsks2: '. Approve only if you started it yourself, just now, and the terminal shows the same code.',
    code: 'Code',
    requestedFrom: 'Requested from',
    unknownAddress: 'unknown address',
    program: 'Program',
    unknown: 'unknown',
    requestedAt: 'Requested at',
    expires: 'Expires',
    cliGets:
      'It gets access tokens of 15 minutes, renewed for up to 90 days, with your role in that organization. You can revoke it at any time under Settings → Profile → Personal Access Tokens, CLI sign-ins.',
    approve: 'Approve',
    deny: 'Deny',
    chooseApproveOrDeny: 'Choose Approve or Deny.',
    cliTooSoon: 'Not approved: this page had only just come to the front, so the click may have been meant for another window. Check that your terminal shows the same code, then press Approve again.',
    cliApprovedTitle: 'Approved',
    cliApproved: 'Return to your terminal: it finishes signing in within a few seconds. You can close this page.',
    cliDeliveredTitle: 'Signed in',
    cliDelivered: 'The command-line tool is signed in. You can close this page; revoke it at any time under CLI sign-ins.',
    cliSignedInto: (org: string, role: string) => `This sign-in is for the organization ${isolate(org)}, with your role there: ${role}.`,
    cliDeniedTitle: 'Denied',
    cliDenied:
      "Nothing was signed in. “teamday login” stops at once. TeamDay's CLI (“teamday auth login”) does not notice and keeps waiting until its 5 minutes are up: press Ctrl-C in that terminal.",
    cliExpiredTitle: 'Expired',
    cliExpired: 'This sign-in request expired (requests last 5 minutes) and can no longer be approved. Start again from your terminal (Ctrl-C, then sign in again).',
    cliLinkInvalid: 'This sign-in link is not valid: no such request. Start again from your terminal.',

    // Organization → Members, Audit log
    membersTitle: 'Members',
    handLink: (email: string) => `Hand this one-time link to ${isolate(email)} (it works once, for 72 hours; it is shown only now):`,
    addMemberHeading: 'Add a member',
    role: 'Role',
    addMember: 'Add member',
    membersOf: 'Members of ',
    colEmail: 'E-mail',
    colRole: 'Role',
    colMemberSince: 'Member since',
    colLastSignIn: 'Last sign-in',
    roleOf: (email: string) => `Role of ${isolate(email)}`,
    change: 'Change',
    changeRoleLabel: (email: string) => `Change the role of ${isolate(email)}`,
    you: 'you',
    passwordLink: 'Password link',
    passwordLinkLabel: (email: string) => `Password link for ${isolate(email)}`,
    removeLabel: (email: string) => `Remove ${isolate(email)}`,
    removeAsk1: 'Remove ',
    removeAsk2: ' from ',
    removeAsk3: '? Their tokens and sessions for this organization stop working at once.',
    remove: 'Remove',
    added: (email: string) => `${isolate(email)} added.`,
    noticeMemberRemoved: 'Member removed: their tokens and sessions for this organization stopped working.',
    noticeRoleChanged: 'Role changed: it applies from their next request.',
    adminsOnly: 'Only organization admins can see this page.',
    notAllowedTitle: 'Not allowed',
    orgSwitchedTitle: 'Organization switched',
    errFormAlreadySent: (made: string) => `This form was already sent, and nothing was done again: it made the token ${isolate(made)}, whose secret was shown only once. If you did not copy it, revoke that token and create a new one.`,
    errFormBusy: 'This form is being sent already (a second click?): its answer comes on the first one. Nothing was done again. If no answer comes, the list below shows whether the token was made.',
    errFormInterrupted: 'This form was sent before, but its answer was lost (the server stopped): the token may have been made. Nothing was done again. Check the list below, and fill in the form again if it is not there.',
    errFormChanged: 'This form was already sent with other values. Nothing was done: fill in the form below again.',
    orgSwitched: (current: string) => `Nothing was done: this form came from a page of another organization, and you have switched to ${isolate(current)} since (perhaps in another tab). Open the page again, and switch back first if you meant the other organization.`,
    auditTitle: 'Audit log',
    type: 'Type',
    all: 'all',
    person: 'Person',
    anyone: 'anyone',
    filter: 'Filter',
    noEvents: 'No events.',
    colWhen: 'When',
    colEvent: 'Event',
    colWho: 'Who',
    colVia: 'Via',
    colTarget: 'Target',
    colIp: 'IP',
    colDetails: 'Details',
    olderEvents: 'Older events',
    newestEvents: '← Newest events',
    auditPages: 'Pages of the audit log',

    // Spaces, and a space's Space Settings → Environment Variables
    spacesTitle: 'Spaces',
    spacesIntro: 'The spaces of this organization you may see. Open one for its settings and environment variables.',
    showArchived: 'Show archived spaces',
    hideArchived: 'Hide archived spaces',
    noSpaces: 'No spaces to show.',
    moreSpaces: 'More spaces',
    moreMembers: 'More members',
    colSlug: 'Slug',
    colVisibility: 'Visibility',
    colVariables: 'Environment variables',
    visibilityPrivate: 'private',
    visibilityOrganization: 'organization',
    visibilityPublic: 'public',
    archivedLabel: 'archived',
    spaceId: 'ID',
    description: 'Description',
    spaceSettings: 'Space Settings',
    envTitle: 'Environment Variables',
    envIntro: 'Environment variables of the agents that run in this space; they replace organization secrets of the same name. Values are stored encrypted and never shown again: only the names are listed.',
    noEnvVars: 'No environment variables yet.',
    envAddHeading: 'Add or replace a variable',
    envName: 'Name',
    envNameHint: '(capital letters, digits and _, starting with a letter; e.g.',
    envValue: 'Value',
    envValueHint: '(stored encrypted; it is not shown again)',
    envSave: 'Save variable',
    envHint1: 'To let agents running in this space call the API, create a token on ',
    envHintLink: 'Settings → Profile → Personal Access Tokens',
    envHint2: ' and add it here as ',
    envHint3: '. The agents get it as an environment variable and send it as a Bearer token.',
    envReadOnly: 'You can see the names only: the space\'s creator or an organization admin changes its variables.',
    removeEnvLabel: (name: string) => `Remove environment variable ${name}`,
    removeEnvAsk1: 'Remove the variable "',
    removeEnvAsk2: '"?',
    removeEnvWarning: 'Agents running in this space will no longer get it. Its value cannot be recovered.',
    removeEnvConfirm: 'Remove variable',
    noticeEnvSaved: 'Environment variable saved. Its value is not shown again.',
    noticeEnvSavedLine: (name: string) => `Environment variable saved. The "${name}=" in front of the value was left out: the value is what follows it. It is not shown again.`,
    errTokenInEnvName: 'Validation failed: "Name" must not contain a token or another secret: put only the name of the variable in Name (e.g. TEAMDAY_TOKEN) and the token in Value, where it is sealed and never shown. Nothing was saved.',
    noticeEnvRemoved: 'Environment variable removed.',
    noticeEnvAbsent: 'There was no such variable: nothing was removed.',
    notFoundTitle: 'Not found',
    backToSpaces: 'Back to the spaces',

    // Agents, and an agent's chat page
    agentsTitle: 'Agents',
    agentsIntro: 'The agents of this organization you may see. Open one to chat with it.',
    noAgents: 'No agents to show.',
    moreAgents: 'More agents',
    visibilityUnlisted: 'unlisted',
    backToAgents: 'Back to the agents',
    newChat: 'New chat',
    /** A chat page's <title> (before the product's name): the open chat's title, or a new chat, and the agent. */
    chatPageTitle: (chat: string | null, agent: string) => (chat === null ? `New chat with ${isolate(agent)}` : `${isolate(chat)} - Chat with ${isolate(agent)}`),
    yourChats: 'Your chats with this agent',
    yourChatsIntro: 'Chats are private: only you see yours.',
    noChats: 'No chats with this agent yet.',
    moreChats: 'Older chats',
    colChat: 'Chat',
    colLastMessage: 'Last message',
    colMessages: 'Messages',
    chatWorking: 'running',
    chatDone: 'answered',
    chatError: 'failed',
    chatStandby: 'cancelled',
    chatYou: 'You',
    chatMessages: 'Messages',
    chatRunning: 'The agent is working on it. This page refreshes itself until the answer arrives.',
    chatHasMore: 'Earlier messages of this chat are left out: the page shows the latest ones.',
    chatEmptyNew: 'Write a message to start a new chat with this agent.',
    messageLabel: 'Message',
    sendMessage: 'Send',
    startChat: 'Start chat',
    chatNoRun: 'Your role does not allow running agents: you can only look at your chats. The permission needed is',
    chatArchived: 'This agent is archived: your chats with it can be looked at, but it cannot be run.',
    chatAnswered: 'The answer has arrived.',
    chatSessionEnded: 'Your session has ended, so this page no longer refreshes itself.',
    chatSignInAgain: 'Sign in again',
    chatRetrying: 'The server cannot be reached right now: this page keeps trying, less often each time.',
    chatGone: 'This chat is no longer there, or its agent is no longer visible to you: the page stops refreshing.',
    chatRefreshFailed: 'This page could not refresh itself: reload it to see the answer.',

    // The console's error pages (an error before or outside a page's own handling)
    errTitle: 'Error',
    errBadRequestTitle: 'Bad request',
    errMethodTitle: 'Method not allowed',
    errTooLargeTitle: 'Too large',
    errUriTooLongTitle: 'Address too long',
    errInvalidTitle: 'Invalid input',
    errTooManyTitle: 'Too many requests',
    errServerTitle: 'Server error',
    errUnavailableTitle: 'Unavailable',
    errNoSuchPage: 'There is no such page in the console. Check the address, or follow a link of the console.',
    formNotSent: "Your form was not sent, so nothing was saved, changed or started. Your browser's Back button takes you back to it with what you typed.",
    backToForm: 'Back to the form',
    backToConsole: 'Back to the console',
    requestIdLabel: 'Request ID:',
  } as const
}


type Widen<T> = T extends string ? string : T extends readonly string[] ? readonly string[] : T
type English = ReturnType<typeof english>
type Catalogue = { [K in keyof English]: Widen<English[K]> }

function german() {
  return {
    navLabel: 'Konsole',
    skipToContent: 'Zum Inhalt springen',
    navSettings: 'Einstellungen',
    navAgents: 'Agenten',
    navSpaces: 'Spaces',
    navMembers: 'Mitglieder',
    navAudit: 'Protokoll',
    navApiDocs: 'API-Dokumentation',
    switchToOrganization: 'Organisation wechseln',
    switchOrg: 'Wechseln',
    signOut: 'Abmelden',
    never: 'nie',
    from: 'von',
    refusedTitle: 'Abgelehnt',
    refusedHeading: 'Anfrage von einer anderen Website abgelehnt',
    refusedText: 'Dieses Formular wurde von einer anderen Website gesendet. Gehen Sie zurück zur Konsole und versuchen Sie es erneut.',

    signInTitle: 'Anmelden',
    email: 'E-Mail',
    password: 'Passwort',
    signInButton: 'Anmelden',
    noPasswordYet: 'Noch kein Passwort? Bitten Sie einen Administrator um einen Passwort-Link oder führen Sie auf dem Server aus:',
    yourName: 'Ihr Name',
    newPassword: 'Neues Passwort',
    atLeastChars: (n: number) => `(mindestens ${n} Zeichen)`,
    repeatPassword: 'Passwort wiederholen',
    setPasswordButton: 'Passwort festlegen',
    setupTitle: 'teamday einrichten',
    setupIntro: 'Willkommen. Wählen Sie das Passwort des ersten Administrators. Dieser Link funktioniert nur einmal.',
    setPasswordTitle: 'Ihr Passwort festlegen',
    setPasswordIntro: 'Wählen Sie Ihr Passwort für die Konsole. Dieser Link funktioniert nur einmal.',
    linkInvalidTitle: 'Link ungültig',
    linkInvalid: 'Dieser Link ist ungültig, schon benutzt oder abgelaufen. Bitten Sie einen Administrator um einen neuen.',
    passwordsDiffer: 'Die beiden Passwörter stimmen nicht überein.',
    wrongCredentials: 'E-Mail oder Passwort falsch.',
    tooManySignIns: (minutes: number) => `Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in ${minutes} Minute${minutes === 1 ? '' : 'n'} erneut.`,
    needsHttps:
      'Die Anmeldung ist nur über HTTPS möglich (oder auf diesem Rechner über http://localhost): Über unverschlüsseltes HTTP könnte jeder auf dem Weg das Passwort und das Sitzungs-Cookie mitlesen. Öffnen Sie diese Seite mit https://: Lassen Sie teamday selbst HTTPS bereitstellen (teamday serve --tls-cert DATEI --tls-key DATEI), oder schalten Sie einen Reverse-Proxy mit TLS davor (TEAMDAY_TRUSTED_PROXIES, X-Forwarded-Proto).',
    passwordSetNotice: 'Passwort festgelegt. Melden Sie sich jetzt damit an.',

    profileTitle: 'Profil',
    roleIn: ' in ',
    roleAdmin: 'Administrator',
    roleMember: 'Mitglied',
    roleViewer: 'Betrachter',
    nameAndEmail: 'Name und E-Mail',
    name: 'Name',
    emailHint: '(damit melden Sie sich an)',
    currentPassword: 'Aktuelles Passwort',
    currentPasswordHint: '(nötig, um die E-Mail zu ändern)',
    save: 'Speichern',
    changePassword: 'Passwort ändern',
    lastChanged: 'Zuletzt geändert:',
    changeSignsOut: 'Eine Änderung meldet Sie überall sonst ab.',
    repeatNewPassword: 'Neues Passwort wiederholen',
    sessionsTitle: 'Sitzungen',
    sessionsIntro: 'Browser, in denen Sie bei dieser Konsole angemeldet sind. Beenden Sie eine Sitzung, die Sie nicht wiedererkennen oder die auf einem Rechner läuft, den Sie nicht mehr nutzen.',
    colBrowser: 'Browser',
    colSignedIn: 'Angemeldet',
    colLastActive: 'Zuletzt aktiv',
    colEnds: 'Endet',
    colActions: 'Aktionen',
    unknownBrowser: 'unbekannter Browser',
    thisBrowser: ' (dieser Browser)',
    signOutThisBrowser: 'Diesen Browser abmelden',
    endSessionOf: (browser: string) => `Sitzung von ${isolate(browser)} beenden`,
    thatBrowser: 'einem unbekannten Browser',
    endSession: 'Beenden',
    signOutEverywhere: 'Überall abmelden',
    noticeSaved: 'Gespeichert.',
    noticePasswordChanged: 'Passwort geändert. Ihre anderen Sitzungen wurden beendet.',
    noticeSessionEnded: 'Sitzung beendet: Der Browser ist abgemeldet.',
    errNoSuchSession: 'Diese Sitzung gibt es unter Ihren Sitzungen nicht; vielleicht wurde sie schon beendet.',
    errTooManyWrongPasswords: 'Zu viele falsche Passwörter. Versuchen Sie es in 10 Minuten erneut.',
    errWrongCurrentPassword: 'Das aktuelle Passwort ist falsch.',
    errNewPasswordsDiffer: 'Die beiden neuen Passwörter stimmen nicht überein.',
    confirmAccessTitle: 'Zugriff bestätigen',
    confirmAccessIntro:
      'Ein Token unter API-Zugriff erstellen oder rotieren, eine CLI-Anmeldung genehmigen, ein Mitglied hinzufügen, die Rolle eines Mitglieds erhöhen und jemandem einen Passwort-Link geben erfordert Ihr Passwort, wenn Sie es zuletzt vor mehr als 2 Stunden eingegeben haben. Geben Sie es ein, um fortzufahren: Ihre Eingabe bleibt erhalten und wird ausgeführt, sobald das Passwort stimmt, und Sie werden 2 Stunden lang nicht erneut gefragt.',
    confirmAccessAs: (email: string) => `Angemeldet als ${isolate(email)}`,
    confirmAccessButton: 'Passwort bestätigen',
    errWrongPassword: 'Das Passwort ist falsch. Sie bleiben angemeldet; versuchen Sie es erneut.',

    patTitle: 'API-Zugriff',
    patIntro: 'Tokens authentifizieren Anfragen an die API: Senden Sie eines im Header Authorization: Bearer td_…',
    createToken: 'Neues Token generieren',
    tokenNameHint: '(z. B. „CI-Pipeline“, „Produktionsautomatisierung“)',
    expiration: 'Ablaufdatum (optional, 7-365 Tage, Standard: 90 Tage)',
    expiry7: '7 Tage - zum Testen und für kurzfristige Nutzung',
    expiry30: '30 Tage - für monatliche Automatisierung',
    expiry90: '90 Tage (Standard, empfohlen)',
    expiry180: '180 Tage - für langfristige Integrationen',
    expiry365: '365 Tage - Maximum',
    customDate: 'Benutzerdefiniertes Ablaufdatum (7-365 Tage ab heute)',
    customDateLabel: 'Benutzerdefiniertes Ablaufdatum',
    scopes: 'Berechtigungen',
    fullAccess: 'Vollzugriff: alles, was Ihre Rolle erlaubt (Standard)',
    orPerResource: 'Oder entfernen Sie das Häkchen bei Vollzugriff und wählen Sie je Ressource aus:',
    colResource: 'Ressource',
    actionRead: 'lesen',
    actionWrite: 'schreiben',
    actionExecute: 'ausführen',
    allTokens: 'Alle Tokens der Organisation',
    yourTokens: 'Ihre Tokens',
    showOnlyMine: 'Nur meine anzeigen',
    showAllOfOrg: 'Alle Tokens der Organisation anzeigen',
    hideInactive: 'Widerrufene und abgelaufene Tokens ausblenden',
    showInactive: 'Widerrufene und abgelaufene Tokens anzeigen',
    noTokensYet: 'Noch keine Tokens.',
    noActiveTokens: 'Keine aktiven Tokens.',
    tokensShown: (from: number, to: number, total: number, estimate: boolean) => `Tokens ${from}-${to} von ${estimate ? 'mehr als ' : ''}${total}`,
    tokenPages: 'Seiten der Token-Liste',
    previousPage: '← Vorherige Seite',
    nextPage: 'Nächste Seite →',
    pageNumber: (page: number) => `Seite ${page}`,
    colName: 'Name',
    colOwner: 'Inhaber',
    colCreated: 'Erstellt',
    colLastUsed: 'Zuletzt verwendet',
    colExpires: 'Läuft ab',
    colToken: 'Token',
    colScopes: 'Berechtigungen',
    colStatus: 'Status',
    expired: 'abgelaufen',
    remaining: (days: number, hours: number, minutes: number) =>
      days > 0
        ? `${days} Tag${days === 1 ? '' : 'en'}`
        : [hours > 0 ? `${hours} Stunde${hours === 1 ? '' : 'n'}` : '', minutes > 0 || hours === 0 ? `${minutes} Minute${minutes === 1 ? '' : 'n'}` : ''].filter(Boolean).join(' '),
    expiresIn: (remaining: string) => `läuft in ${remaining} ab`,
    stopsIn: (remaining: string) => `endet in ${remaining}`,
    revokedOn: 'widerrufen am',
    expiredOn: 'abgelaufen am',
    statusActive: 'aktiv',
    statusExpired: 'abgelaufen',
    statusRevoked: 'widerrufen',
    activeUntil: 'aktiv bis',
    rotatedNote: '(rotiert)',
    revokeTokenLabel: (name: string, owner?: string) => (owner ? `Token ${isolate(name)} von ${isolate(owner)} widerrufen` : `Token ${isolate(name)} widerrufen`),
    revokeOwnerNote: (owner: string) => `Dieses Token gehört ${isolate(owner)}: Die Skripte, Pipelines und Integrationen dieser Person, die es verwenden, funktionieren dann nicht mehr.`,
    rotateTokenLabel: (name: string) => `Token ${isolate(name)} rotieren`,
    revokeTitle: 'Widerrufen',
    revokeAsk1: 'Token „',
    revokeAsk2: '“ widerrufen?',
    revokeAtOnce: 'Das Papierkorb-Symbol neben einem Token widerruft es sofort.',
    scopeFullAccess: 'Vollzugriff',
    revokeWarning:
      'Wenn Sie ein Token widerrufen, funktionieren alle Skripte, CI/CD-Pipelines und Integrationen, die es verwenden, nicht mehr. Stellen Sie diese Systeme um, bevor Sie es widerrufen.',
    revokeGraceNote: 'Das Token wurde rotiert und funktioniert noch bis zum Ende seiner Übergangsfrist; wenn Sie es widerrufen, endet es sofort.',
    cancel: 'Abbrechen',
    revokeConfirm: 'Token widerrufen',
    graceLabel: (name: string) => `Übergangsfrist des alten Tokens (Rotation von ${isolate(name)})`,
    graceNone: 'altes Token endet sofort',
    graceHour: 'altes Token noch 1 Stunde gültig',
    graceDay: 'altes Token noch 1 Tag gültig',
    rotate: 'Rotieren',
    noticeTokenRevoked: 'Token widerrufen: Anfragen damit werden ab sofort abgewiesen.',
    noticeCliRevoked: 'CLI-Anmeldung widerrufen: Das Terminal ist abgemeldet; seine Zugriffs- und Erneuerungs-Tokens werden ab sofort abgewiesen.',
    errCustomDate: 'Ungültige Eingabe: Wählen Sie ein benutzerdefiniertes Ablaufdatum (7-365 Tage ab heute).',
    errDateNotChosen: 'Ungültige Eingabe: Sie haben ein benutzerdefiniertes Ablaufdatum eingetragen, aber eine andere Laufzeit gewählt. Wählen Sie „Benutzerdefiniertes Ablaufdatum“, um das Datum zu verwenden, oder löschen Sie es.',
    errNoScope: 'Ungültige Eingabe: Keine Berechtigung gewählt. Kreuzen Sie Vollzugriff an oder mindestens eine Berechtigung einer Ressource.',
    errTokenInField: (label: string) =>
      `Ungültige Eingabe: „${isolate(label)}“ darf kein Token und kein anderes Geheimnis enthalten. Es wurde nichts gespeichert. Ein Token gehört nur dorthin, wo danach gefragt wird: Einem Agenten geben Sie eines als Umgebungsvariable eines Spaces (Spaces → der Space → Umgebungsvariablen), wo es versiegelt und nie angezeigt wird.`,
    errTokenInPageField:
      'Ungültige Eingabe: Dieses Formular kam mit einem Token in einem Feld an, das die Seite selbst ausfüllt, nicht in einem, in das Sie etwas eingeben: Etwas hat das Formular verändert, nachdem die Seite angezeigt wurde (zum Beispiel eine Browser-Erweiterung oder ein Skript). Es wurde nichts ausgeführt. Laden Sie die Seite neu und senden Sie das Formular erneut.',
    errRepeatedField: (label: string) =>
      `Ungültige Eingabe: „${isolate(label)}“ wurde mehrmals mit verschiedenen Werten gesendet; ein Formular sendet es einmal. Es wurde nichts ausgeführt: Füllen Sie das Formular aus und senden Sie es erneut.`,
    errRepeatedPageField:
      'Ungültige Eingabe: Dieses Formular kam mit einem Feld an, das die Seite selbst ausfüllt und das mehrmals mit verschiedenen Werten gesendet wurde: Etwas hat das Formular verändert, nachdem die Seite angezeigt wurde (zum Beispiel eine Browser-Erweiterung oder ein Skript). Es wurde nichts ausgeführt. Laden Sie die Seite neu und senden Sie das Formular erneut.',
    errUnreadableForm: (type: string) =>
      `Ungültige Eingabe: Das Formular ließ sich nicht lesen: Es wurde ${type === '' ? 'ohne Content-Type' : `als ${isolate(type)}`} gesendet, die Formulare der Konsole senden ihre Felder aber URL-kodiert (application/x-www-form-urlencoded). Es wurde nichts ausgeführt: Füllen Sie das Formular aus und senden Sie es von seiner Seite erneut.`,
    errExpiryChoice: 'Ungültige Eingabe: Wählen Sie eine der angebotenen Laufzeiten (7, 30, 90, 180 oder 365 Tage) oder „Benutzerdefiniertes Ablaufdatum“ mit einem Datum.',
    errGraceChoice: 'Ungültige Eingabe: Wählen Sie eine der angebotenen Übergangsfristen des alten Tokens (endet sofort, noch 1 Stunde, noch 1 Tag).',
    graceField: 'Übergangsfrist des alten Tokens',

    tokenCreatedTitle: 'Token generiert',
    tokenRotatedTitle: 'Token rotiert',
    copyNow: 'Kopieren Sie Ihr Token sofort - Sie können es später nicht mehr sehen!',
    hashOnly: 'teamday speichert nur den SHA-256-Hash des Tokens.',
    createdExpires: '“, läuft ab am',
    replaces: (masked: string) => `; es ersetzt ${masked}`,
    oldStopsNow: 'Das alte Token funktioniert nicht mehr.',
    oldWorksUntil: 'Das alte Token funktioniert noch bis',
    yourNewToken: 'Ihr neues Token',
    copy: 'Kopieren',
    copied: 'Kopiert',
    copyFailedShort: 'Kopieren fehlgeschlagen',
    copyFailedToken: 'Kopieren fehlgeschlagen: Der Browser hat es nicht erlaubt. Das Token ist markiert: Kopieren Sie es von Hand (Strg+C, auf dem Mac Cmd+C).',
    copyFailedLink: 'Kopieren fehlgeschlagen: Der Browser hat es nicht erlaubt. Der Link ist markiert: Kopieren Sie ihn von Hand (Strg+C, auf dem Mac Cmd+C).',
    tokenWorksIn: (org: string, role: string) => `Es gilt nur in der Organisation ${isolate(org)}, mit Ihrer Rolle dort (${role}): nie mehr, als Sie selbst dürfen.`,
    storeSecurely: 'Sicher speichern',
    storeInEnv: 'In Umgebungsvariablen speichern:',
    storeUnix: 'Unix/Linux/macOS',
    storeWindows: 'Windows (PowerShell)',
    storeDotenv: 'Oder in .env Datei (für lokale Entwicklung; tragen Sie .env in .gitignore ein)',
    storeElsewhere:
      'In CI/CD: als Secret der Pipeline (GitHub Secrets, GitLab-CI/CD-Variablen) oder in einem Secret-Manager (AWS Secrets Manager, HashiCorp Vault, 1Password). Nie im Quellcode, in einem Git-Repository, per Slack oder E-Mail oder als Klartextdatei auf einem geteilten Laufwerk.',
    useIt: 'Ihr Token verwenden',
    securityGuidelines: 'Sicherheitsrichtlinien',
    guidelines: [
      'Tokens nie in die Versionsverwaltung einchecken - Umgebungsvariablen oder Secret-Manager verwenden',
      'Tokens regelmäßig rotieren - passende Ablaufdaten setzen',
      'Je Integration ein eigenes Token - das erleichtert das Widerrufen',
      'Tokens aussagekräftig benennen - so wissen Sie, wo welches Token verwendet wird',
      'Ungenutzte Tokens sofort widerrufen - das verkleinert die Angriffsfläche',
      'Tokens nie teilen - jedes Teammitglied braucht sein eigenes',
    ],
    backToTokens: 'Fertig: zurück zu Ihren Tokens',

    cliTitle: 'CLI-Anmeldungen',
    cliOrganization: 'Organisation, bei der sich das Tool anmeldet',
    cliIntro1: 'Terminals, die über den Browser angemeldet wurden (',
    cliIntro2: ', das CLI von TeamDay: ',
    cliIntro3: '). Wenn Sie eine Anmeldung widerrufen, werden ihre Zugriffs- und Erneuerungs-Tokens sofort ungültig.',
    noCliSessions: 'Es ist kein Kommandozeilen-Tool angemeldet.',
    colDevice: 'Gerät',
    unknownProgram: 'unbekanntes Programm',
    thisProgram: 'diesem Programm',
    revokeCliLabel: (device: string) => `Anmeldung von ${isolate(device)} widerrufen`,
    revoke: 'Widerrufen',
    cliAuthorizeTitle: 'Ein Kommandozeilen-Tool anmelden?',
    cliAsks1: 'Ein Kommandozeilen-Tool möchte als ',
    cliAsks2: ' handeln. Bestätigen Sie nur, wenn Sie es gerade selbst gestartet haben und das Terminal denselben Code zeigt.',
    code: 'Code',
    requestedFrom: 'Angefragt von',
    unknownAddress: 'unbekannte Adresse',
    program: 'Programm',
    unknown: 'unbekannt',
    requestedAt: 'Angefragt am',
    expires: 'Läuft ab',
    cliGets:
      'Es erhält Zugriffs-Tokens, die 15 Minuten gelten und bis zu 90 Tage lang erneuert werden, mit Ihrer Rolle in dieser Organisation. Sie können die Anmeldung jederzeit unter Einstellungen → API-Zugriff → CLI-Anmeldungen widerrufen.',
    approve: 'Bestätigen',
    deny: 'Ablehnen',
    chooseApproveOrDeny: 'Wählen Sie Bestätigen oder Ablehnen.',
    cliTooSoon: 'Nicht bestätigt: Diese Seite war eben erst in den Vordergrund gekommen, der Klick galt vielleicht einem anderen Fenster. Prüfen Sie, ob Ihr Terminal denselben Code zeigt, und klicken Sie dann erneut auf Bestätigen.',
    cliApprovedTitle: 'Bestätigt',
    cliApproved: 'Kehren Sie zu Ihrem Terminal zurück: Es schließt die Anmeldung in wenigen Sekunden ab. Sie können diese Seite schließen.',
    cliDeliveredTitle: 'Angemeldet',
    cliDelivered: 'Das Kommandozeilen-Tool ist angemeldet. Sie können diese Seite schließen; widerrufen können Sie es jederzeit unter CLI-Anmeldungen.',
    cliSignedInto: (org: string, role: string) => `Diese Anmeldung gilt für die Organisation ${isolate(org)}, mit Ihrer Rolle dort: ${role}.`,
    cliDeniedTitle: 'Abgelehnt',
    cliDenied:
      'Es wurde nichts angemeldet. „teamday login“ endet sofort. Das CLI von TeamDay („teamday auth login“) bemerkt es nicht und wartet, bis seine 5 Minuten um sind: Drücken Sie dort Strg+C.',
    cliExpiredTitle: 'Abgelaufen',
    cliExpired: 'Diese Anmeldeanfrage ist abgelaufen (Anfragen gelten 5 Minuten) und kann nicht mehr bestätigt werden. Beginnen Sie im Terminal neu (Strg+C, dann erneut anmelden).',
    cliLinkInvalid: 'Dieser Anmelde-Link ist ungültig: keine solche Anfrage. Beginnen Sie im Terminal neu.',

    membersTitle: 'Mitglieder',
    handLink: (email: string) => `Geben Sie diesen Einmal-Link an ${isolate(email)} weiter (er funktioniert nur einmal und gilt 72 Stunden; er wird nur jetzt angezeigt):`,
    addMemberHeading: 'Mitglied hinzufügen',
    role: 'Rolle',
    addMember: 'Mitglied hinzufügen',
    membersOf: 'Mitglieder von ',
    colEmail: 'E-Mail',
    colRole: 'Rolle',
    colMemberSince: 'Mitglied seit',
    colLastSignIn: 'Letzte Anmeldung',
    roleOf: (email: string) => `Rolle von ${isolate(email)}`,
    change: 'Ändern',
    changeRoleLabel: (email: string) => `Rolle von ${isolate(email)} ändern`,
    you: 'Sie',
    passwordLink: 'Passwort-Link',
    passwordLinkLabel: (email: string) => `Passwort-Link für ${isolate(email)}`,
    removeLabel: (email: string) => `${isolate(email)} entfernen`,
    removeAsk1: '',
    removeAsk2: ' aus ',
    removeAsk3: ' entfernen? Die Tokens und Sitzungen dieser Person für diese Organisation funktionieren dann sofort nicht mehr.',
    remove: 'Entfernen',
    added: (email: string) => `${isolate(email)} hinzugefügt.`,
    noticeMemberRemoved: 'Mitglied entfernt: Die Tokens und Sitzungen dieser Person für diese Organisation funktionieren nicht mehr.',
    noticeRoleChanged: 'Rolle geändert: Die neue Rolle gilt ab der nächsten Anfrage der Person.',
    adminsOnly: 'Nur Administratoren der Organisation können diese Seite sehen.',
    notAllowedTitle: 'Nicht erlaubt',
    orgSwitchedTitle: 'Organisation gewechselt',
    errFormAlreadySent: (made: string) => `Dieses Formular wurde bereits gesendet, und nichts wurde erneut ausgeführt: Es hat das Token ${isolate(made)} generiert, das nur einmal angezeigt wurde. Wenn Sie es nicht kopiert haben, widerrufen Sie dieses Token und generieren Sie ein neues.`,
    errFormBusy: 'Dieses Formular wird bereits gesendet (ein zweiter Klick?): Die Antwort kommt auf den ersten. Nichts wurde erneut ausgeführt. Kommt keine Antwort, zeigt die Liste unten, ob das Token generiert wurde.',
    errFormInterrupted: 'Dieses Formular wurde bereits gesendet, aber seine Antwort ging verloren (der Server wurde beendet): Das Token wurde vielleicht generiert. Nichts wurde erneut ausgeführt. Prüfen Sie die Liste unten und füllen Sie das Formular erneut aus, wenn es dort fehlt.',
    errFormChanged: 'Dieses Formular wurde bereits mit anderen Werten gesendet. Nichts wurde ausgeführt: Füllen Sie das Formular unten erneut aus.',
    orgSwitched: (current: string) => `Nichts wurde geändert: Dieses Formular stammt von einer Seite einer anderen Organisation, und Sie haben inzwischen zu ${isolate(current)} gewechselt (vielleicht in einem anderen Tab). Öffnen Sie die Seite erneut, und wechseln Sie zuerst zurück, wenn Sie die andere Organisation meinten.`,
    auditTitle: 'Protokoll',
    type: 'Typ',
    all: 'alle',
    person: 'Person',
    anyone: 'alle Personen',
    filter: 'Filtern',
    noEvents: 'Keine Ereignisse.',
    colWhen: 'Zeitpunkt',
    colEvent: 'Ereignis',
    colWho: 'Wer',
    colVia: 'Über',
    colTarget: 'Ziel',
    colIp: 'IP',
    colDetails: 'Details',
    olderEvents: 'Ältere Ereignisse',
    newestEvents: '← Neueste Ereignisse',
    auditPages: 'Seiten des Protokolls',

    spacesTitle: 'Spaces',
    spacesIntro: 'Die Spaces dieser Organisation, die Sie sehen dürfen. Öffnen Sie einen für seine Einstellungen und Umgebungsvariablen.',
    showArchived: 'Archivierte Spaces anzeigen',
    hideArchived: 'Archivierte Spaces ausblenden',
    noSpaces: 'Keine Spaces anzuzeigen.',
    moreSpaces: 'Weitere Spaces',
    moreMembers: 'Weitere Mitglieder',
    colSlug: 'Kurzname',
    colVisibility: 'Sichtbarkeit',
    colVariables: 'Umgebungsvariablen',
    visibilityPrivate: 'privat',
    visibilityOrganization: 'Organisation',
    visibilityPublic: 'öffentlich',
    archivedLabel: 'archiviert',
    spaceId: 'ID',
    description: 'Beschreibung',
    spaceSettings: 'Space-Einstellungen',
    envTitle: 'Umgebungsvariablen',
    envIntro: 'Umgebungsvariablen der Agenten, die in diesem Space laufen; sie ersetzen gleichnamige Geheimnisse der Organisation. Werte werden verschlüsselt gespeichert und nie wieder angezeigt: Aufgelistet werden nur die Namen.',
    noEnvVars: 'Noch keine Umgebungsvariablen.',
    envAddHeading: 'Variable hinzufügen oder ersetzen',
    envName: 'Name',
    envNameHint: '(Großbuchstaben, Ziffern und _, beginnend mit einem Buchstaben; z. B.',
    envValue: 'Wert',
    envValueHint: '(wird verschlüsselt gespeichert und nicht wieder angezeigt)',
    envSave: 'Variable speichern',
    envHint1: 'Damit Agenten in diesem Space die API aufrufen können, generieren Sie ein Token unter ',
    envHintLink: 'Einstellungen → API-Zugriff',
    envHint2: ' und fügen Sie es hier als ',
    envHint3: ' hinzu. Die Agenten erhalten es als Umgebungsvariable und senden es als Bearer-Token.',
    envReadOnly: 'Sie sehen nur die Namen: Ändern können die Variablen nur die Person, die den Space erstellt hat, und die Administratoren der Organisation.',
    removeEnvLabel: (name: string) => `Umgebungsvariable ${name} entfernen`,
    removeEnvAsk1: 'Die Variable „',
    removeEnvAsk2: '“ entfernen?',
    removeEnvWarning: 'Agenten in diesem Space erhalten sie dann nicht mehr. Ihr Wert lässt sich nicht wiederherstellen.',
    removeEnvConfirm: 'Variable entfernen',
    noticeEnvSaved: 'Umgebungsvariable gespeichert. Ihr Wert wird nicht wieder angezeigt.',
    noticeEnvSavedLine: (name: string) => `Umgebungsvariable gespeichert. Das „${name}=“ vor dem Wert wurde weggelassen: Der Wert ist, was danach folgt. Er wird nicht wieder angezeigt.`,
    errTokenInEnvName: 'Ungültige Eingabe: „Name“ darf kein Token und kein anderes Geheimnis enthalten: Tragen Sie nur den Namen der Variable unter Name ein (z. B. TEAMDAY_TOKEN) und das Token unter Wert, wo es versiegelt und nie angezeigt wird. Es wurde nichts gespeichert.',
    noticeEnvRemoved: 'Umgebungsvariable entfernt.',
    noticeEnvAbsent: 'Diese Variable gab es nicht: Nichts wurde entfernt.',
    notFoundTitle: 'Nicht gefunden',
    backToSpaces: 'Zurück zu den Spaces',

    agentsTitle: 'Agenten',
    agentsIntro: 'Die Agenten dieser Organisation, die Sie sehen dürfen. Öffnen Sie einen, um mit ihm zu chatten.',
    noAgents: 'Keine Agenten anzuzeigen.',
    moreAgents: 'Weitere Agenten',
    visibilityUnlisted: 'nicht gelistet',
    backToAgents: 'Zurück zu den Agenten',
    newChat: 'Neuer Chat',
    chatPageTitle: (chat: string | null, agent: string) => (chat === null ? `Neuer Chat mit ${isolate(agent)}` : `${isolate(chat)} - Chat mit ${isolate(agent)}`),
    yourChats: 'Ihre Chats mit diesem Agenten',
    yourChatsIntro: 'Chats sind privat: Ihre Chats sehen nur Sie.',
    noChats: 'Noch keine Chats mit diesem Agenten.',
    moreChats: 'Ältere Chats',
    colChat: 'Chat',
    colLastMessage: 'Letzte Nachricht',
    colMessages: 'Nachrichten',
    chatWorking: 'läuft',
    chatDone: 'beantwortet',
    chatError: 'fehlgeschlagen',
    chatStandby: 'abgebrochen',
    chatYou: 'Sie',
    chatMessages: 'Nachrichten',
    chatRunning: 'Der Agent arbeitet daran. Diese Seite aktualisiert sich selbst, bis die Antwort da ist.',
    chatHasMore: 'Ältere Nachrichten dieses Chats werden nicht angezeigt: Die Seite zeigt nur die neuesten.',
    chatEmptyNew: 'Schreiben Sie eine Nachricht, um einen neuen Chat mit diesem Agenten zu beginnen.',
    messageLabel: 'Nachricht',
    sendMessage: 'Senden',
    startChat: 'Chat beginnen',
    chatNoRun: 'Ihre Rolle erlaubt es nicht, Agenten auszuführen: Sie können Ihre Chats nur ansehen. Nötig ist die Berechtigung',
    chatArchived: 'Dieser Agent ist archiviert: Ihre Chats mit ihm lassen sich ansehen, ausführen lässt er sich nicht.',
    chatAnswered: 'Die Antwort ist da.',
    chatSessionEnded: 'Ihre Sitzung wurde beendet, deshalb aktualisiert sich diese Seite nicht mehr.',
    chatSignInAgain: 'Erneut anmelden',
    chatRetrying: 'Der Server ist gerade nicht erreichbar: Diese Seite versucht es weiter, in immer größeren Abständen.',
    chatGone: 'Diesen Chat gibt es nicht mehr, oder sein Agent ist für Sie nicht mehr sichtbar: Die Seite aktualisiert sich nicht mehr.',
    chatRefreshFailed: 'Diese Seite konnte sich nicht aktualisieren: Laden Sie sie neu, um die Antwort zu sehen.',

    errTitle: 'Fehler',
    errBadRequestTitle: 'Ungültige Anfrage',
    errMethodTitle: 'Methode nicht erlaubt',
    errTooLargeTitle: 'Zu groß',
    errUriTooLongTitle: 'Adresse zu lang',
    errInvalidTitle: 'Ungültige Eingabe',
    errTooManyTitle: 'Zu viele Anfragen',
    errServerTitle: 'Serverfehler',
    errUnavailableTitle: 'Nicht verfügbar',
    errNoSuchPage: 'Diese Seite gibt es in der Konsole nicht. Prüfen Sie die Adresse oder folgen Sie einem Link der Konsole.',
    formNotSent: 'Ihr Formular wurde nicht gesendet: Nichts wurde gespeichert, geändert oder gestartet. Mit der Zurück-Schaltfläche Ihres Browsers kommen Sie mit Ihrer Eingabe dorthin zurück.',
    backToForm: 'Zurück zum Formular',
    backToConsole: 'Zurück zur Konsole',
    requestIdLabel: 'Anfrage-ID:',
  } as const satisfies Catalogue
}

/** The texts of one language (property types are the literal texts of both languages). */
export type Messages = English | ReturnType<typeof german>

let en: English | undefined
let de: ReturnType<typeof german> | undefined

/** Both languages' texts, each built on its first read. */
export const CATALOGUE: Readonly<Record<Lang, Messages>> = {
  get en() {
    return (en ??= english())
  },
  get de() {
    return (de ??= german())
  },
}

export function messages(lang: Lang): Messages {
  return CATALOGUE[lang]
}

export function roleLabel(t: Messages, role: string): string {
  return role === 'admin' ? t.roleAdmin : role === 'member' ? t.roleMember : role === 'viewer' ? t.roleViewer : role
}

/**
 * A page's "not found" for a space, an agent, a chat or a token (the services' `Space X not
 * found`, …), in English and German alike: another organization's object, a colleague's private
 * one, another person's chat or token is answered as a missing one on purpose (404), so the page
 * says it may be there and not be the reader's to see. (The English page showed the service's
 * message, which did not say so; the German one did.) The id as asked for is kept in English.
 */
const NOT_FOUND: [RegExp, (m: RegExpExecArray) => Record<Lang, string>][] = [
  [
    /^Space (.+?) not found( \(or archived, or not visible to you\))?\.?$/s,
    (m) =>
      m[2]
        ? { en: `Space ${m[1]} not found (or archived), or you may not see it.`, de: 'Diesen Space gibt es nicht (oder er ist archiviert), oder Sie dürfen ihn nicht sehen.' }
        : { en: `Space ${m[1]} not found, or you may not see it.`, de: 'Diesen Space gibt es nicht, oder Sie dürfen ihn nicht sehen.' },
  ],
  [
    /^Agent (.+?) not found( \(or archived, or not visible to you\))?\.?$/s,
    (m) =>
      m[2]
        ? { en: `Agent ${m[1]} not found (or archived), or you may not see it.`, de: 'Diesen Agenten gibt es nicht (oder er ist archiviert), oder Sie dürfen ihn nicht sehen.' }
        : { en: `Agent ${m[1]} not found, or you may not see it.`, de: 'Diesen Agenten gibt es nicht, oder Sie dürfen ihn nicht sehen.' },
  ],
  [/^Chat (.+?) not found\.?$/s, (m) => ({ en: `Chat ${m[1]} not found, or it is not yours.`, de: 'Diesen Chat gibt es nicht, oder er gehört nicht Ihnen.' })],
  [/^Token (.+?) not found\.?$/s, (m) => ({ en: `Token ${m[1]} not found, or it belongs to someone else.`, de: 'Dieses Token gibt es nicht, oder es gehört jemand anderem.' })],
]

/**
 * Service errors a page says in its own words in either language, where the API's message is
 * written for a reader without the page: an unknown `type` filter of the audit log (an edited
 * address) names all the types there are, which the page's "Type" list already offers.
 */
const WORDED: [RegExp, (m: RegExpExecArray) => Record<Lang, string>][] = [
  // The per-person cap on active tokens (TEAMDAY_MAX_TOKENS_PER_USER): the API's sentence spoke of
  // "this user" and of CLI commands; the page speaks to the person, of its own trash icons.
  [
    /^Too many tokens: this user already has (\d+) active tokens in this organization, the limit is (\d+)/,
    (m) => ({
      en: `You already have ${m[1]} active tokens in this organization, the most allowed here (${m[2]}). Revoke one you no longer use (the trash icon in the list below), then create the new one.`,
      de: `Sie haben schon ${m[1]} aktive Tokens in dieser Organisation, die höchste hier erlaubte Zahl (${m[2]}). Widerrufen Sie eines, das Sie nicht mehr verwenden (Papierkorb-Symbol in der Liste unten), und generieren Sie dann das neue.`,
    }),
  ],
  [
    /^Validation failed: type "(.*)" is not an audit event type/s,
    (m) => ({ en: `Unknown event type "${isolate(m[1]!)}": choose one from the list.`, de: `Unbekannter Ereignistyp „${isolate(m[1]!)}“: Wählen Sie einen aus der Liste.` }),
  ],
]

/**
 * German for the service errors a console page can show. The services speak English (the API's
 * messages); English pages show them as they are, German pages a translation: of the message
 * when it is one of these, else of its code (no English sentence on a German page).
 */
const DE_ERRORS: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^Validation failed: (?:secrets|keys) has invalid key/, () => 'Ungültige Eingabe: Ein Name besteht aus Großbuchstaben, Ziffern und _, beginnt mit einem Buchstaben und darf höchstens 128 Zeichen lang sein.'],
  [/^Validation failed: secrets\.\S+ is too large/, () => 'Ungültige Eingabe: Ein Wert darf höchstens 64 KiB groß sein.'],
  [/^Validation failed: secrets: at most (\d+) secrets per space/, (m) => `Ungültige Eingabe: Ein Space kann höchstens ${m[1]} Umgebungsvariablen haben.`],
  [/^Validation failed: message must be a non-empty string/, () => 'Ungültige Eingabe: Schreiben Sie eine Nachricht (höchstens 200000 Zeichen).'],
  [/^Validation failed: chatId must be/, () => 'Ungültige Eingabe: Diese Chat-ID ist ungültig.'],
  [/^Too many executions waiting: (\d+)/, (m) => `Zu viele Ausführungen warten: ${m[1]} Ihrer Ausführungen stehen in dieser Organisation schon an. Warten Sie, bis sie starten, oder brechen Sie einige ab.`],
  [/^Forbidden: only the space's creator or an organization admin can change the secrets of it/, () => 'Nicht erlaubt: Die Umgebungsvariablen eines Spaces können nur die Person, die ihn erstellt hat, und die Administratoren der Organisation ändern.'],
  [/^Forbidden: your role \((\w+)\) does not allow/, () => 'Nicht erlaubt: Ihre Rolle erlaubt das nicht.'],
  [/^Validation failed: name must be 1-(\d+) characters/, (m) => `Ungültige Eingabe: Der Name muss 1-${m[1]} Zeichen lang sein.`],
  [/^Validation failed: name must be at most (\d+) characters/, (m) => `Ungültige Eingabe: Der Name darf höchstens ${m[1]} Zeichen lang sein.`],
  [/^Validation failed: name must not contain control or bidirectional formatting characters/, () => 'Ungültige Eingabe: Der Name darf keine Steuerzeichen und keine Zeichen enthalten, die die Schreibrichtung ändern.'],
  [/^Validation failed: name must contain a visible character/, () => 'Ungültige Eingabe: Der Name muss mindestens ein sichtbares Zeichen enthalten.'],
  // A token in any field of a form (src/http/secret-fields.ts), before the page's own rules.
  // A page words its own fields' refusals (src/console/routes/settings.tsx fieldErrorOf); this is
  // for the console's error page, whose message names no field of a form (a field's name held one).
  [
    /^Validation failed: \S+ must not contain a token or another secret: what is sent here/,
    () =>
      'Ungültige Eingabe: Das Formular enthielt ein Token oder ein anderes Geheimnis, wo keines hingehört. Es wurde nichts gespeichert. Einem Agenten geben Sie ein Token als Umgebungsvariable eines Spaces (Spaces → der Space → Umgebungsvariablen), wo es versiegelt und nie angezeigt wird.',
  ],
  [/^Validation failed: name must not contain a token or another secret: a name is stored and shown in token lists/, () => 'Ungültige Eingabe: Der Name darf kein Token und kein anderes Geheimnis enthalten: Er wird gespeichert und in Token-Listen angezeigt. Geben Sie stattdessen an, wofür das Token dient.'],
  // Before the range's: "expiresAt must be an ISO-8601 date-time" starts as "expiresAt must be …" too.
  [/^Validation failed: expiresAt must be an ISO-8601/, () => 'Ungültige Eingabe: Wählen Sie ein gültiges Ablaufdatum.'],
  [/^Validation failed: expires(?:InDays|At) must be/, () => 'Ungültige Eingabe: Das Ablaufdatum muss zwischen 7 und 365 Tagen in der Zukunft liegen.'],
  [/^Validation failed: choose a custom expiration date/, () => 'Ungültige Eingabe: Wählen Sie ein benutzerdefiniertes Ablaufdatum (7-365 Tage ab heute).'],
  [/^Validation failed: a custom expiration date is filled in, but another period is chosen/, () => CATALOGUE.de.errDateNotChosen],
  [/^Validation failed: no scope chosen/, () => CATALOGUE.de.errNoScope],
  [/^Validation failed: choose one of the offered expiration periods/, () => CATALOGUE.de.errExpiryChoice],
  [/^Validation failed: choose one of the offered periods for the old token/, () => CATALOGUE.de.errGraceChoice],
  // A console form refused as a whole (src/http/page-form.ts): a page words it itself (fieldErrorOf,
  // by the field's label); this is for the console's error page, which names no field of a form.
  [/^Validation failed: the field \S+ was sent more than once, with different values/, () => 'Ungültige Eingabe: Ein Feld des Formulars wurde mehrmals mit verschiedenen Werten gesendet; ein Formular sendet es einmal. Es wurde nichts ausgeführt: Füllen Sie das Formular aus und senden Sie es erneut.'],
  [/^Validation failed: the form could not be read: it was sent (?:as ([^\s,]+)|without a Content-Type)/, (m) => CATALOGUE.de.errUnreadableForm(m[1] ?? '')],
  [/^Validation failed: .*scope/i, () => 'Ungültige Eingabe: Diese Berechtigungen gibt es nicht oder Ihre Rolle hat sie nicht.'],
  [/^Validation failed: a password must be (\d+)-(\d+) characters/, (m) => `Ungültige Eingabe: Ein Passwort muss ${m[1]}-${m[2]} Zeichen lang sein.`],
  [/^Validation failed: ".*" is not a valid e-mail address/, () => 'Ungültige Eingabe: Das ist keine gültige E-Mail-Adresse.'],
  [/^Validation failed: role must be one of/, () => 'Ungültige Eingabe: Die Rolle muss Administrator, Mitglied oder Betrachter sein.'],
  [/^Validation failed: gracePeriodSeconds/, () => 'Ungültige Eingabe: Wählen Sie eine der angebotenen Übergangsfristen.'],
  [/^Validation failed: choose one of your organizations/, () => 'Ungültige Eingabe: Wählen Sie eine Ihrer Organisationen.'],
  [/^You are not a member of any organization/, () => 'Sie sind in keiner Organisation Mitglied, es gibt also nichts, wofür Sie sich anmelden könnten.'],
  [/^The e-mail .* belongs to another user/, () => 'Diese E-Mail-Adresse gehört einem anderen Benutzer.'],
  [/^No such CLI sign-in; it may have been revoked already/, () => 'Diese CLI-Anmeldung gibt es nicht; vielleicht wurde sie schon widerrufen.'],
  [/^CLI session \S+ not found/, () => 'Diese CLI-Anmeldung gibt es nicht.'],
  [/^Token \S+ was already rotated or revoked; rotate its successor (\S+) instead/, (m) => `Dieses Token wurde schon rotiert oder widerrufen; rotieren Sie stattdessen seinen Nachfolger ${m[1]}.`],
  [/^Token \S+ was already revoked and cannot be rotated/, () => 'Dieses Token wurde schon widerrufen und kann nicht rotiert werden; generieren Sie ein neues.'],
  [/^Token \S+ was already rotated and stops working at \S+, and no token of its rotation family is active any more/, () => 'Dieses Token wurde schon rotiert und läuft mit seiner Übergangsfrist aus, und kein Token seiner Rotationsfolge ist mehr aktiv; generieren Sie ein neues.'],
  [/^Token \S+ was already rotated/, () => 'Dieses Token wurde schon rotiert und läuft mit seiner Übergangsfrist aus; rotieren Sie seinen Nachfolger.'],
  [/^Token \S+ expired on/, () => 'Dieses Token ist abgelaufen und kann nicht rotiert werden; generieren Sie ein neues.'],
  [/^Token \S+ was rotated or revoked by a concurrent request/, () => 'Dieses Token wurde gleichzeitig anderswo rotiert oder widerrufen; laden Sie die Liste neu und versuchen Sie es erneut.'],
  [
    /^Too many tokens for a rotation with a grace period: this user has (\d+) active tokens in this organization .* the limit is (\d+)/,
    (m) =>
      `Zu viele Tokens für eine Rotation mit Übergangsfrist: Sie haben ${m[1]} aktive Tokens in dieser Organisation (Tokens in der Übergangsfrist einer Rotation zählen mit), erlaubt sind ${m[2]}, und das alte Token würde neben dem neuen weiter funktionieren. Rotieren Sie mit „altes Token endet sofort“, warten Sie das Ende der früheren Übergangsfrist ab oder widerrufen Sie Tokens, die Sie nicht mehr verwenden.`,
  ],
  [/^Forbidden: only a token's owner can rotate it/, () => 'Nicht erlaubt: Nur der Inhaber eines Tokens kann es rotieren; ein Administrator kann es stattdessen widerrufen.'],
  [/^Forbidden: only organization admins can list every token/, () => 'Nicht erlaubt: Nur Administratoren können alle Tokens der Organisation sehen.'],
  [/^Forbidden: only organization admins can see and manage members/, () => 'Nicht erlaubt: Nur Administratoren der Organisation können Mitglieder sehen und verwalten.'],
  [/^You cannot change your own membership here/, () => 'Ihre eigene Mitgliedschaft können Sie hier nicht ändern; bitten Sie einen anderen Administrator.'],
  [/^Conflict: (\S+) is the last admin of this organization/, (m) => `Konflikt: ${m[1]} ist der letzte Administrator dieser Organisation; machen Sie zuerst ein anderes Mitglied zum Administrator.`],
  [/^Conflict: (\S+) is already a member of this organization/, (m) => `Konflikt: ${m[1]} ist schon Mitglied dieser Organisation; ändern Sie stattdessen die Rolle.`],
  [
    /^Conflict: an account with the e-mail (\S+) already exists on this server/,
    (m) =>
      `Konflikt: Ein Konto mit der E-Mail ${m[1]} gibt es auf diesem Server schon (in einer anderen Organisation oder mit einem Passwort, das diese Organisation nicht vergeben hat). E-Mail-Adressen werden hier nicht bestätigt (es wird keine E-Mail versandt), daher könnte jemand anderes diese Adresse zuerst belegt haben: Ein Administrator der Organisation kann das Konto nicht hinzufügen. Der Betreiber des Servers kann es, sobald sicher ist, dass es dieser Person gehört: teamday users create --email ${m[1]} --org <slug>.`,
  ],
  [/^User \S+ is not a member of this organization/, () => 'Diese Person ist kein Mitglied dieser Organisation.'],
  [
    /^No password link for (\S+): /,
    (m) =>
      `Kein Passwort-Link für ${m[1]}: Diese Person hat schon ein Passwort oder gehört auch einer anderen Organisation an; nur sie selbst kann es festlegen (Einstellungen → Profil) oder der Betreiber (teamday users set-password --email ${m[1]}).`,
  ],
  [/^This link no longer applies/, () => 'Dieser Link gilt nicht mehr: Das Konto hat inzwischen ein Passwort oder gehört auch einer anderen Organisation an. Melden Sie sich mit Ihrem Passwort an oder bitten Sie den Betreiber (teamday users set-password auf dem Server).'],
  [/^This link was used already/, () => 'Dieser Link wurde schon benutzt.'],
  [/^This link is invalid, already used or expired/, () => 'Dieser Link ist ungültig, schon benutzt oder abgelaufen. Bitten Sie einen Administrator um einen neuen.'],
  [/^This sign-in request cannot be (approved|denied)/, () => 'Diese Anmeldeanfrage kann nicht mehr bestätigt oder abgelehnt werden: Die Anfrage ist abgelaufen, oder über sie wurde schon entschieden.'],
  [/^This sign-in link is not valid/, () => 'Dieser Anmelde-Link ist ungültig. Beginnen Sie im Terminal neu.'],
  [/^Invalid cursor: /, () => 'Ungültiger Seitenverweis: Folgen Sie den Links der Seite oder beginnen Sie wieder auf der ersten Seite.'],
  // Refused before a console page runs (src/http/guards.ts, src/http/body.ts, src/http/errors.ts).
  [/^Not found: no id or slug contains the NUL character/, () => 'Nicht gefunden: Keine ID und kein Kurzname enthält das NUL-Zeichen (%00).'],
  [/^Validation failed: (?:text|a key of \S+|\S+) must not contain the NUL character \(U\+0000\)/, () => 'Ungültige Eingabe: Der Text enthält das NUL-Zeichen (U+0000), das sich nicht speichern lässt.'],
  [/^Validation failed: .* must not contain the NUL character \(%00\)/, () => 'Ungültige Eingabe: Die Adresse enthält das NUL-Zeichen (%00).'],
  [/^Validation failed: .* is not valid percent-encoding/, () => 'Ungültige Eingabe: Die Adresse enthält eine ungültige Prozent-Kodierung (jedes % beginnt ein Escape von UTF-8).'],
  [
    /^Request body too large: it may hold at most (\d+) (fields|object members \(keys, counted in every object\)), and this one has (\d+)\./,
    (m) => `Die Anfrage ist zu groß: höchstens ${m[1]} ${m[2] === 'fields' ? 'Felder' : 'Schlüssel (in jedem Objekt gezählt)'}, diese hat ${m[3]}.`,
  ],
  [/^Request body too large: the limit is (\d+) bytes/, (m) => `Die Anfrage ist zu groß: höchstens ${m[1]} Bytes (1 MiB), nach der Kodierung des Formulars. Kürzen Sie den Text.`],
  [/^URL too long: the limit is (\d+) bytes/, (m) => `Die Adresse ist zu lang: höchstens ${m[1]} Bytes für Pfad und Abfrage.`],
  [
    /^Too many requests from your account: the console allows (\d+) requests per (\d+) s for each person\. Wait (\d+) s/,
    (m) => `Zu viele Anfragen von Ihrem Konto: Die Konsole erlaubt jeder Person ${m[1]} Anfragen in ${m[2]} s. Warten Sie ${m[3]} s und laden Sie die Seite dann neu.`,
  ],
  [/^Method (\S+) is not allowed on \S+; use (.+)\.$/, (m) => `Die Methode ${m[1]} ist hier nicht erlaubt; erlaubt sind: ${m[2]}.`],
  [/Nothing was changed by this request; retry in a moment/, () => 'Die Datenbank ist gerade nicht erreichbar; nichts wurde geändert. Versuchen Sie es gleich noch einmal.'],
  [
    /Part of this request's changes had already been committed before that/,
    () => 'Die Datenbank ist gerade nicht erreichbar, aber ein Teil dieser Anfrage war schon gespeichert: Sie hat vielleicht teilweise gewirkt. Prüfen Sie, was sich geändert hat, bevor Sie sie erneut senden.',
  ],
]

const DE_BY_CODE: Partial<Record<string, string>> = {
  validation_failed: 'Ungültige Eingabe: Bitte prüfen Sie Ihre Angaben.',
  token_limit_reached: 'Sie haben schon die größtmögliche Zahl aktiver Tokens in dieser Organisation. Widerrufen Sie eines, bevor Sie ein neues generieren.',
  forbidden: 'Nicht erlaubt.',
  insufficient_scope: 'Nicht erlaubt.',
  not_found: 'Nicht gefunden.',
  conflict: 'Konflikt: Das ist gerade nicht möglich.',
  already_member: 'Konflikt: Diese Person ist schon Mitglied.',
  last_admin: 'Konflikt: Die Organisation braucht mindestens einen Administrator.',
  invalid_state: 'Das ist in diesem Zustand nicht mehr möglich; laden Sie die Seite neu.',
  rate_limited: 'Zu viele Anfragen. Versuchen Sie es gleich noch einmal.',
  no_model_provider: 'Auf diesem Server ist kein Modellanbieter eingerichtet: Der Betreiber setzt OPENAI_BASE_URL (und bei Bedarf OPENAI_API_KEY) oder ANTHROPIC_API_KEY.',
  model_not_served: 'Kein eingerichteter Modellanbieter bedient das Modell dieses Agenten.',
  max_turns_reached: 'Die Ausführung hat die Höchstzahl ihrer Modellschritte (maxTurns) erreicht, ohne eine endgültige Antwort zu geben.',
  service_unavailable: 'Der Server wird gerade beendet und nimmt keine neuen Ausführungen an; versuchen Sie es gleich noch einmal.',
  route_not_found: 'Diese Seite gibt es nicht.',
  bad_request: 'Ungültige Anfrage.',
  internal_error: 'Auf dem Server ist ein Fehler aufgetreten; die Anfrage wurde nicht ausgeführt. Nennen Sie die Anfrage-ID, wenn Sie den Fehler melden.',
  decryption_failed: 'Gespeicherte Daten konnten nicht entschlüsselt werden; der Schlüssel des Servers hat sich vielleicht geändert. Bitten Sie den Betreiber, TEAMDAY_ENCRYPTION_KEY zu prüfen.',
}

/**
 * The message of a service error in the page's language. `field`: the form field it is about, by
 * the service's name for it and the label the form shows: an English message names the label
 * instead (`Validation failed: expiresAt must be …` is `Validation failed: "Custom expiration
 * date" must be …`); the German ones name no field of the API.
 */
export function errorText(lang: Lang, e: { message: string; code: string; status: number }, field?: { name: string; label: string }): string {
  // A token pasted where it does not belong (a name field) is never shown back: as in the API's errors.
  const message = redactSecrets(e.message)
  for (const [re, said] of WORDED) {
    const m = re.exec(message)
    if (m) return said(m)[lang]
  }
  if (e.code === 'not_found') {
    for (const [re, said] of NOT_FOUND) {
      const m = re.exec(message)
      if (m) return said(m)[lang]
    }
  }
  if (lang === 'en') {
    if (!field) return message
    // The message names the field as its details do (`secrets.KEY is too large`) or by the map
    // that holds it (`secrets has invalid key "KEY"`).
    for (const name of [field.name, field.name.split('.')[0]!]) {
      const about = `Validation failed: ${name} `
      if (message.startsWith(about)) return `Validation failed: "${isolate(field.label)}" ${message.slice(about.length)}`
    }
    return message
  }
  for (const [re, german] of DE_ERRORS) {
    const m = re.exec(message)
    if (m) return german(m)
  }
  return DE_BY_CODE[e.code] ?? (e.status >= 500 ? 'Auf dem Server ist ein Fehler aufgetreten.' : 'Die Anfrage wurde abgewiesen.')
}
