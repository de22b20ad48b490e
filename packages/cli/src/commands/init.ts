import { initIdentity } from '@prsm/node'
import { resolveDataDir } from '../data-dir.ts'
import { printJson } from '../output.ts'
import { obtainPassword } from '../password.ts'

export interface InitFlags {
  dataDir?: string
  force?: boolean
  insecureNoPassword?: boolean
  json?: boolean
}

/** `prsm init`: creates the node key and the wallet key, encrypted, in the data directory. */
export async function initCommand(flags: InitFlags): Promise<void> {
  const dataDir = resolveDataDir(flags.dataDir)
  const password = flags.insecureNoPassword === true ? null : await obtainPassword({ confirm: true })
  const identity = await initIdentity(dataDir, { password, force: flags.force === true })
  if (flags.json === true) {
    printJson({ dataDir, ...identity })
    return
  }
  process.stdout.write(
    `Initialised ${dataDir}\n  peer id  ${identity.peerId}\n  address  ${identity.address}\n`,
  )
  if (identity.insecure) {
    process.stdout.write(
      '  WARNING  keys are not password-protected (--insecure-no-password): development only\n',
    )
  }
}
