/**
 * What the build stamps into the binary: `scripts/build.ts` passes
 * `--define TEAMDAY_COMMIT='"<git commit>"'` to `bun build`. Run from source, or built outside
 * a git checkout, it is "unknown".
 */
declare const TEAMDAY_COMMIT: string | undefined

export const COMMIT: string = typeof TEAMDAY_COMMIT === 'string' && TEAMDAY_COMMIT ? TEAMDAY_COMMIT : 'unknown'
