import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A small file system of its own (tmpfs) that a test can fill: what SQLite and the key file meet
 * on a full disk, which SQLite's page limit (PRAGMA max_page_count) does not imitate (on a real
 * ENOSPC SQLite rolls the transaction back by itself). Needs root and a kernel that lets this
 * process mount; `smallDiskUnavailable` says why not, for a test's skip.
 */
export interface SmallDisk {
  dir: string
  /** Takes up all but `freeKb` KiB with a filler file (replacing the previous one). */
  leave(freeKb: number): void
  /** Removes the filler. */
  free(): void
  /** Unmounts and removes the folder. */
  close(): void
}

const SIZE_KB = 8192

function mounted(): SmallDisk | string {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux'
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  const dir = mkdtempSync(join(tmpdir(), 'teamday-small-disk-'))
  const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', `size=${SIZE_KB}k`, 'tmpfs', dir], { stderr: 'pipe' })
  if (mount.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true })
    return `mount -t tmpfs was refused here (${mount.stderr.toString().trim() || `exit ${mount.exitCode}`})`
  }
  const filler = join(dir, 'filler')
  const disk: SmallDisk = {
    dir,
    leave(freeKb) {
      disk.free()
      const used = Number(Bun.spawnSync(['df', '-k', '--output=used', dir]).stdout.toString().trim().split('\n').pop())
      writeFileSync(filler, Buffer.alloc(Math.max(0, (SIZE_KB - used - freeKb) * 1024)))
    },
    free() {
      rmSync(filler, { force: true })
    },
    close() {
      Bun.spawnSync(['umount', '-l', dir])
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return disk
}

let made: SmallDisk | string | undefined

/** The one small disk of this test file (mounted at first use), or why there is none. */
export function smallDisk(): SmallDisk | string {
  made ??= mounted()
  return made
}

/** Unmounts the small disk, when this test file mounted one. */
export function closeSmallDisk(): void {
  if (made !== undefined && typeof made !== 'string') made.close()
  made = undefined
}

/** Whether no small disk can be mounted here (saying why on stderr): for `test.skipIf`. */
export function smallDiskUnavailable(): boolean {
  const d = smallDisk()
  if (typeof d === 'string') console.error(`small-disk tests skipped: ${d}`)
  return typeof d === 'string'
}
