import { expect } from 'bun:test'

/**
 * Asks `get` for the same answer with `Accept-Encoding: zstd`, then gzip, and checks each comes
 * compressed in that coding (with `Vary`), to less than a tenth of `plain`, and decodes to it.
 */
export async function expectCompressedLike(get: (headers: Record<string, string>) => Promise<Response>, plain: string) {
  for (const coding of ['zstd', 'gzip'] as const) {
    const res = await get({ 'accept-encoding': coding })
    expect(res.headers.get('content-encoding')).toBe(coding)
    expect(res.headers.get('vary')).toContain('accept-encoding')
    const bytes = new Uint8Array(await res.arrayBuffer())
    expect(bytes.byteLength).toBeLessThan(plain.length / 10)
    expect(new TextDecoder().decode(coding === 'zstd' ? Bun.zstdDecompressSync(bytes) : Bun.gunzipSync(bytes))).toBe(plain)
  }
}
