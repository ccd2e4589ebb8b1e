/**
 * What the build stamps into the binary: `scripts/build.ts` passes
 * `--define TEAMDAY_COMMIT='"<git commit>"'` to `bun build`. Run from source, or built outside
 * a git checkout, it is "unknown".
 */
declare const TEAMDAY_COMMIT: string | undefined

export const COMMIT: string = typeof TEAMDAY_COMMIT === 'string' && TEAMDAY_COMMIT ? TEAMDAY_COMMIT : 'unknown'

/** This build's version (package.json's). */
export const VERSION = '0.1.0'

/** What `teamday --version` prints. */
export const versionLine = (): string => `teamday ${VERSION} (commit ${COMMIT})`
