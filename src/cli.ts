#!/usr/bin/env node
import { Command } from 'commander';
import { registerRun } from './cli/runCommand';
import { registerEval } from './cli/evalCommand';
import { registerBench } from './cli/benchCommand';

const program = new Command();
program
  .name('dino-stream')
  .description('Streaming, continual self-supervised vision agent: online DINO on live cameras, teacher embeddings, novelty and drift events')
  .showHelpAfterError();
registerRun(program);
registerEval(program);
registerBench(program);
program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`dino-stream: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
