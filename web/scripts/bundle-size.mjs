// Prints the size of the built dashboard, raw and gzip-compressed, per file
// and in total (source maps excluded), for the build test's log.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = process.argv[2] ?? new URL('../dist', import.meta.url).pathname;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
let raw = 0;
let gz = 0;
let codeGz = 0;
const rows = [];
for (const file of walk(dist).filter((f) => !f.endsWith('.map')).sort()) {
  const data = readFileSync(file);
  const z = gzipSync(data, { level: 9 }).length;
  raw += data.length;
  gz += z;
  if (/\.(js|mjs|css)$/.test(file)) codeGz += z;
  rows.push(`  ${relative(dist, file).padEnd(48)} ${kb(data.length).padStart(11)} ${kb(z).padStart(11)} gzip`);
}
console.log(`bundle: ${dist}`);
console.log(rows.join('\n'));
console.log(`bundle total: ${kb(raw)} raw, ${kb(gz)} gzip; JS+CSS ${kb(codeGz)} gzip`);
