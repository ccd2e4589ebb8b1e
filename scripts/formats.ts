import { closeSync, openSync, readSync } from 'node:fs'

/**
 * The executable format of a file, from its header: what `npm run build:all` must produce for
 * each target (checked by scripts/build.ts after building and by test/smoke/release.ts).
 */
export type ExecutableFormat = 'elf-x86-64' | 'elf-aarch64' | 'macho-x86-64' | 'macho-arm64' | 'pe-x86-64'

/** The release files and the format each must have. */
export const RELEASE_TARGETS = [
  { file: 'teamday-linux-x64', target: 'bun-linux-x64', format: 'elf-x86-64' },
  { file: 'teamday-linux-arm64', target: 'bun-linux-arm64', format: 'elf-aarch64' },
  { file: 'teamday-darwin-arm64', target: 'bun-darwin-arm64', format: 'macho-arm64' },
  { file: 'teamday-darwin-x64', target: 'bun-darwin-x64', format: 'macho-x86-64' },
  { file: 'teamday-windows-x64.exe', target: 'bun-windows-x64', format: 'pe-x86-64' },
] as const satisfies readonly { file: string; target: string; format: ExecutableFormat }[]

/** ELF 64-bit little-endian (e_machine), 64-bit Mach-O (cputype), PE32+ (COFF machine); null for anything else. */
export function executableFormat(head: Uint8Array): ExecutableFormat | null {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const has = (n: number) => head.byteLength >= n
  // ELF: \x7fELF, class 2 (64-bit), data 1 (little-endian), e_machine at 18.
  if (has(20) && v.getUint32(0) === 0x7f454c46 && head[4] === 2 && head[5] === 1) {
    const machine = v.getUint16(18, true)
    return machine === 0x3e ? 'elf-x86-64' : machine === 0xb7 ? 'elf-aarch64' : null
  }
  // Mach-O 64-bit, little-endian: magic 0xfeedfacf, cputype at 4 (CPU_ARCH_ABI64 | x86 / arm).
  if (has(8) && v.getUint32(0, true) === 0xfeedfacf) {
    const cpu = v.getUint32(4, true)
    return cpu === 0x01000007 ? 'macho-x86-64' : cpu === 0x0100000c ? 'macho-arm64' : null
  }
  // PE: "MZ", e_lfanew at 0x3c pointing at "PE\0\0", then the COFF machine (0x8664 = x86-64).
  if (has(0x40) && head[0] === 0x4d && head[1] === 0x5a) {
    const pe = v.getUint32(0x3c, true)
    if (!has(pe + 6) || v.getUint32(pe) !== 0x50450000) return null
    return v.getUint16(pe + 4, true) === 0x8664 ? 'pe-x86-64' : null
  }
  return null
}

/** The first 4 KiB of a file (enough for every header above). */
export function readHead(path: string): Uint8Array {
  const fd = openSync(path, 'r')
  try {
    const buf = new Uint8Array(4096)
    const n = readSync(fd, buf, 0, buf.length, 0)
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}
