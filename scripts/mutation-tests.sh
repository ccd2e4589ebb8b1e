#!/usr/bin/env bash
# The test command of `npm run mutate` (stryker.config.json). Stryker's command runner starts it
# once per mutant with __STRYKER_ACTIVE_MUTANT__ set (unset for the first, unmutated run). Running
# every relevant test file for every mutant takes an hour on two cores, so this runs only the
# files that exercise the source file holding the mutant: that file is the one whose instrumented
# text (in Stryker's sandbox, the working directory) contains the mutant's id. A name written
# `pg:name` runs on PostgreSQL (TEAMDAY_TEST_DATABASE=postgres, after the SQLite files; CI=true so
# that a PostgreSQL that does not answer fails the run instead of skipping the file): code that
# runs only there (src/auth/pg-lookup.ts, the counted hits authenticate and the plugin pass on).
set -euo pipefail

tests_for() {
  case "$1" in
    src/auth/tokens.ts | src/auth/random.ts) echo token-format auth-edges auth tokens redaction ;;
    src/auth/token-text.ts) echo token-format auth-edges redaction secrets-in-fields client-errors ;;
    src/auth/authenticate.ts) echo auth-edges auth token-format tokens audit pg:pg-auth-statement pg:ratelimit ;;
    src/auth/pg-lookup.ts) echo pg:pg-auth-statement pg:ratelimit pg:agents-cache pg:token-usage pg:auth ;;
    src/auth/lookup.ts) echo token-usage auth auth-edges read-cache audit ;;
    src/auth/plugin.ts) echo auth auth-edges scopes scope-routes authz-matrix ratelimit audit openapi observability pg:pg-auth-statement pg:ratelimit ;;
    src/auth/login-code.ts) echo auth-edges ;;
    src/auth/roles.ts) echo scopes token-escalation scope-routes authz-matrix ;;
    src/auth/*) echo auth auth-edges scopes authz-matrix ;;
    src/text.ts) echo redaction auth-edges executions ;;
    src/http/client-address.ts | src/http/ip.ts) echo client-address credentials ratelimit console-auth ;;
    src/modules/agents/access.ts) echo access-rules access-mutants access-leaks authz-matrix agents slugs ;;
    src/modules/spaces/access.ts) echo access-rules access-mutants access-leaks authz-matrix spaces tasks executions-access secrets slugs ;;
    src/modules/tasks/access.ts) echo access-rules access-mutants access-leaks authz-matrix tasks ;;
    src/modules/executions/access.ts) echo access-rules executions-access access-mutants access-leaks authz-matrix executions ;;
    src/modules/members/access.ts) echo members authz-matrix scope-routes ;;
    src/modules/tokens/access.ts) echo token-escalation token-limits tokens audit ;;
    src/modules/tokens/validation.ts) echo scopes tokens token-limits cli ;;
    src/modules/tokens/service.ts) echo tokens token-usage token-escalation rotation token-limits list-cursors audit cli ;;
    src/modules/tokens/lifecycle.ts) echo rotation token-escalation tokens audit ;;
    src/modules/tokens/revocation.ts) echo token-escalation credentials tokens members ;;
    src/modules/tokens/*) echo openapi openapi-descriptions tokens token-limits rotation ;;
    src/modules/slugs.ts) echo slugs access-rules ;;
    src/modules/*) echo authz-matrix executions-access access-rules access-mutants access-leaks agents spaces tasks secrets executions ;;
    *) echo token-format auth auth-edges token-usage access-rules access-mutants access-leaks openapi scopes scope-routes authz-matrix executions-access tokens token-escalation token-limits rotation agents spaces tasks secrets credentials audit ratelimit idempotency errors executions ;;
  esac
}

if [ -n "${__STRYKER_ACTIVE_MUTANT__:-}" ]; then
  file=$(grep -rlF --include='*.ts' "stryMutAct_9fa48(\"${__STRYKER_ACTIVE_MUTANT__}\")" src | head -n 1 || true)
  names=$(tests_for "$file")
else
  # The first, unmutated run: the tests of every instrumented file, so that its duration (from
  # which Stryker derives the timeout of each mutant) is that of a mutant's run, not of all tests.
  names=$(for f in $(grep -rlF --include='*.ts' 'stryMutAct_9fa48(' src || true); do tests_for "$f"; done | tr ' ' '\n' | awk 'NF && !seen[$0]++')
  [ -n "$names" ] || names=$(tests_for '')
fi
# Stryker links the project's node_modules into its sandbox (.stryker-tmp/sandbox-*), except
# when node_modules is itself a symbolic link (a git worktree sharing another checkout's).
[ -e node_modules ] || ln -sfn ../../node_modules node_modules
sqlite=()
pg=()
for t in $names; do
  case "$t" in
    pg:*) pg+=("test/${t#pg:}.test.ts") ;;
    *) sqlite+=("test/$t.test.ts") ;;
  esac
done
[ ${#sqlite[@]} -eq 0 ] || node_modules/.bin/bun test --bail "${sqlite[@]}"
[ ${#pg[@]} -eq 0 ] || TEAMDAY_TEST_DATABASE=postgres CI=true node_modules/.bin/bun test --bail "${pg[@]}"
