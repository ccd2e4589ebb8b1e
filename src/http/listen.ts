import type { AnyElysia } from 'elysia'

type ListenOptions = Parameters<AnyElysia['listen']>[0]

/**
 * `app.listen(options)` without the second start Elysia's Bun adapter schedules after it. Once the
 * app's lazily loaded plugins (`.use(import(…))`, async plugin functions) have settled, that
 * adapter compiles the app again, maps every route into Bun's router again, reloads the server
 * with them and asks for a garbage collection: for plugins that arrive after listening. It
 * waits on the app's `promisedModules`, which are settled at once when there are none, so every
 * start did that work a second time in the microtasks right after listening, ahead of its first
 * request. An app with no lazily loaded plugin (this server's: createApp uses none) gets the
 * same server without it; one with pending plugins is listened to as Elysia does.
 */
export function listenOnce(app: AnyElysia, options: ListenOptions): void {
  const pending = (app as unknown as { _promisedModules?: { size: number } })._promisedModules?.size ?? 0
  if (pending > 0) {
    app.listen(options)
    return
  }
  // Seen by listen alone: its `promisedModules.then(restart)` registers nothing.
  Object.defineProperty(app, 'promisedModules', { value: { then: () => undefined, size: 0, promises: [] }, configurable: true })
  try {
    app.listen(options)
  } finally {
    // Back to Elysia's own (the prototype's getter).
    delete (app as unknown as { promisedModules?: unknown }).promisedModules
  }
}
