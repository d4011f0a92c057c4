// Builds dist/callscope.js (minified; a <script> global `callstats`, an AMD module named
// "callstats" for require.js, and a CommonJS module) and dist/callscope.mjs (ES module), prints
// their minified and gzipped sizes, and fails when the script exceeds the size budget
// (docs/sdk.md, "Size budget").
import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

/** Gzipped size limit of dist/callscope.js, bytes. Justified in docs/sdk.md. */
export const BUDGET_GZIP = 11 * 1024;

const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  minify: true,
  target: 'es2020',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

await esbuild.build({ ...common, format: 'esm', outfile: 'dist/callscope.mjs' });
// UMD: the <script> global `callstats`, the AMD module "callstats", or CommonJS (see src/umd.ts).
await esbuild.build({
  ...common,
  entryPoints: ['src/umd.ts'],
  format: 'iife',
  outfile: 'dist/callscope.js',
  banner: {
    js:
      '(function(root,factory){var c=factory();typeof module=="object"&&module.exports?module.exports=c:' +
      '(root.callstats=c,typeof define=="function"&&define.amd&&define("callstats",[],function(){return c}))' +
      '})(typeof globalThis<"u"?globalThis:this,function(){var __callscope;',
  },
  footer: { js: 'return __callscope});' },
});

// Type declarations for TypeScript users of the ES module.
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.', '--noEmit', 'false', '--declaration',
  '--emitDeclarationOnly', '--rootDir', 'src', '--outDir', 'dist/types'], { stdio: 'inherit' });

let over = false;
for (const file of ['dist/callscope.js', 'dist/callscope.mjs']) {
  const code = readFileSync(file);
  const gz = gzipSync(code, { level: 9 }).length;
  const budget = file.endsWith('.js') ? ` (budget ${BUDGET_GZIP} B)` : '';
  console.log(`${file}: ${code.length} B minified, ${gz} B gzipped${budget}`);
  if (budget && gz > BUDGET_GZIP) over = true;
}
if (over) {
  console.error(`size budget exceeded: dist/callscope.js must stay under ${BUDGET_GZIP} B gzipped`);
  process.exit(1);
}
