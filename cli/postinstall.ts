// The package's postinstall: applies patches/ to the patched dependencies (in this repository as before; in a game project to the copies tickwire loads) and warns about version pins the project lacks.
import { applyPatches, isDependencyInstall, pinProblems, requiredOverrides } from './patches.ts';

const r = applyPatches();
if (!r.ok) {
  console.error(r.output);
  console.error('tickwire: applying patches/ to its dependencies failed');
  process.exit(1);
}
if (isDependencyInstall()) {
  console.log(`tickwire: dependency patches in place\n${r.output}`);
  const pins = pinProblems();
  if (pins.length > 0) {
    console.warn(`tickwire: ${pins.join('; ')}. Add to your package.json and install again:\n  "overrides": ${JSON.stringify(requiredOverrides())}`);
  }
} else {
  process.stdout.write(r.output);
}
