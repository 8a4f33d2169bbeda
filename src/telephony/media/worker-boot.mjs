// Development only: loads the TypeScript media worker from src/ (vitest, tsx). Node 20 ignores
// `--import tsx` given in a Worker's execArgv for the worker's own entry ("Unknown file extension
// .ts"), so tsx's ESM hooks are registered here, inside the worker, before the entry is imported.
// Compiled code (dist/) starts media-worker.js directly and never loads this file.
import { workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
await import(workerData.entry);
