// Its own module: the command line (src/cli/run.ts) recognises a ConfigError without loading
// src/config.ts, which only the server and the admin commands need.
const CONFIG_ERROR = Symbol.for('teamday.ConfigError')

/** A bad setting. `instanceof` also holds across the compiled binary's two bundles (src/cli/admin-bundle.ts). */
export class ConfigError extends Error {
  readonly [CONFIG_ERROR] = true
  static override [Symbol.hasInstance](x: unknown): boolean {
    // A subclass (UnknownError…) keeps the ordinary prototype check.
    if (this !== ConfigError) return Function.prototype[Symbol.hasInstance].call(this, x)
    return typeof x === 'object' && x !== null && (x as { [CONFIG_ERROR]?: boolean })[CONFIG_ERROR] === true
  }
}
