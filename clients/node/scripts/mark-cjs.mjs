// The package is "type": "module"; this marks the CommonJS build's folder as CommonJS so that
// Node (and TypeScript, for its .d.ts files) read dist/cjs/*.js with require semantics.
import { writeFileSync } from "node:fs";

writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{ "type": "commonjs" }\n');
