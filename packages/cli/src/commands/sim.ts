import type { Command } from 'commander'
import { ExitRequest } from '../output.ts'

/** `prsm sim …`: the economic simulator's own CLI (run, compare, list), loaded on demand. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate the FTNS economy: prsm sim run|compare|list … (see prsm sim --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      const code = await (await import('@prsm/sim')).simCli(args)
      if (code !== 0) throw new ExitRequest(code)
    })
}
