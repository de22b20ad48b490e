#!/usr/bin/env node
import { execWithNodeStartFlags } from './runtime-flags.ts'

// `prsm node start` re-executes itself with the node's V8 flags before anything heavy is loaded
execWithNodeStartFlags()
const { runCli } = await import('./program.ts')
const code = await runCli(process.argv.slice(2))
process.exitCode = code
