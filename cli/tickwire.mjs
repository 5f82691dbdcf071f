#!/usr/bin/env node
// The `tickwire` command: registers tsx (the package ships TypeScript source) and runs cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
