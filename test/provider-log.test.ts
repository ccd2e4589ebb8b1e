/**
 * What the server log keeps of a provider's error (src/engine/provider-log.ts): only the part that
 * is logged is checked against the run's input. The whole message was (a stream's error event may
 * hold megabytes), and against a long prompt that held the event loop for seconds (2 MB against
 * 190,000 characters: 13 s); a quote past what is logged also made the logged part null.
 */
import { describe, expect, test } from 'bun:test'
import { providerErrorFields } from '../src/engine/provider-log'

describe("a provider error's message in the log", () => {
  test('a quote of the input within what is logged: null', () => {
    const prompt = 'Draft the merger memo for Project Bluebird: the price is 4.2 billion'
    expect(providerErrorFields(undefined, `Invalid text '${prompt.slice(5, 60)}' flagged`, [prompt]).providerError).toBeNull()
  })
  test('a quote only past the 300 characters logged: the logged part is kept, and the rest never looked at', () => {
    const prompt = 'Draft the merger memo for Project Bluebird: the price is 4.2 billion'
    const message = `${'The request was refused by the gateway. '.repeat(10)}Quoted: '${prompt}'`
    const f = providerErrorFields(undefined, message, [prompt])
    expect(f.providerError).not.toBeNull()
    expect(f.providerError!.length).toBeLessThanOrEqual(303)
    expect(f.providerError).not.toContain('Bluebird')
  })
  test('a quote that begins inside the logged part and runs past the cut: null', () => {
    const prompt = 'The acquisition ceiling is 310 million and nobody outside the board may know it before March'
    expect(providerErrorFields(undefined, `${'x'.repeat(278)} quoted: '${prompt}'`, [prompt]).providerError).toBeNull()
  })
})
