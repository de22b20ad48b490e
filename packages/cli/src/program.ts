import { Command, CommanderError, Option } from 'commander'
import { registerAuditCommands } from './commands/audit.ts'
import { registerChainCommands } from './commands/chain.ts'
import { registerChannelCommands } from './commands/channel.ts'
import { registerContentCommands } from './commands/content.ts'
import { registerGovCommands } from './commands/gov.ts'
import { nodeStatusCommand, offersCommand, peersCommand } from './commands/inspect.ts'
import { registerJobCommands } from './commands/job.ts'
import { registerKeysCommands } from './commands/keys.ts'
import { registerManifestCommands } from './commands/manifest.ts'
import { registerProvenanceCommand } from './commands/provenance.ts'
import { registerQueryCommand } from './commands/query.ts'
import { registerSafetyCommands } from './commands/safety.ts'
import { registerSimCommand } from './commands/sim.ts'
import { registerTraceCommands } from './commands/trace.ts'
import { registerWalletCommands } from './commands/wallet.ts'
import { registerWorkflowCommands } from './commands/workflow.ts'
import { EXIT, ExitRequest, reportError } from './output.ts'

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]
const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data directory (default: $PRSM_DATA_DIR or ~/.prsm)')
const jsonOption = () => new Option('--json', 'print JSON')

/**
 * Builds the `prsm` command tree. Each area registers its commands from `commands/<area>.ts`;
 * actions throw, and {@link runCli} turns errors into exit codes.
 */
export function buildProgram(): Command {
  const program = new Command('prsm')
    .description('PRSM: a peer-to-peer network for AI work')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError()

  program
    .command('init')
    .description('create the node key and the wallet key (encrypted) in the data directory')
    .addOption(dataDirOption())
    .option('--force', 'replace existing keys')
    .option('--insecure-no-password', 'store keys without a password (development only)')
    .addOption(jsonOption())
    // commands that need the node's libraries load them only when they run (fast start for the rest)
    .action(async (flags) => (await import('./commands/init.ts')).initCommand(flags))

  const node = program.command('node').description('run and inspect a node')
  node
    .command('start')
    .description('run a node in the foreground (stop with Ctrl-C)')
    .addOption(dataDirOption())
    .option('--listen <multiaddr>', 'listen address (repeatable)', collect)
    .option('--bootstrap <multiaddr>', 'bootstrap peer, ending in /p2p/PEER_ID (repeatable)', collect)
    .option('--api-port <n>', 'local API port (0 = any free port)')
    .option(
      '--offer <cap=price>',
      'offer a capability at a price in FTNS per unit, e.g. model:llama-3-8b=0.002 (repeatable)',
      collect,
    )
    .option('--mdns', 'discover peers on the local network')
    .option('--relay', 'act as a circuit-relay server')
    .option(
      '--detect-local-models',
      'offer the models of a local Ollama (jobs.localModels.url) as model:<name>',
    )
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option(
      '--devnet <file>',
      'use the chain in this deployment file (from prsm devnet up or prsm chain deploy)',
    )
    .action(async (flags) => (await import('./commands/node-start.ts')).nodeStartCommand(flags))
  node
    .command('status')
    .description('show the running node')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(nodeStatusCommand)

  program
    .command('peers')
    .description('list connected peers')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(peersCommand)

  program
    .command('offers')
    .description('list offers known to the node, or find offers for a capability')
    .addOption(dataDirOption())
    .option('--capability <cap>', 'find offers for this capability (gossip + DHT)')
    .option('--timeout <ms>', 'time allowed for the DHT search')
    .addOption(jsonOption())
    .action(offersCommand)

  registerSimCommand(program)
  registerContentCommands(program)
  registerManifestCommands(program)
  registerProvenanceCommand(program)
  registerChainCommands(program)
  registerWalletCommands(program)
  registerChannelCommands(program)
  registerJobCommands(program)
  registerQueryCommand(program)
  registerWorkflowCommands(program)
  registerTraceCommands(program)
  registerKeysCommands(program)
  registerGovCommands(program)
  registerAuditCommands(program)
  registerSafetyCommands(program)

  return program
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return EXIT.OK
  } catch (err) {
    if (err instanceof ExitRequest) return err.exitCode
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    }
    return reportError(err, argv.includes('--json'))
  }
}
