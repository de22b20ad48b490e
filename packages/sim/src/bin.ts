#!/usr/bin/env node
import { simCli } from './cli.ts'

process.exitCode = await simCli(process.argv.slice(2))
