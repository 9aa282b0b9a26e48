// The vendored MapLibre GL JS (web/vendor/maplibre-gl) must be the npm package pinned in
// package-lock.json, byte for byte. `node tests/web/vendor.mjs --write` refreshes it
// after an upgrade; without --write it checks and exits 1 on any difference.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = path.join(root, 'node_modules/maplibre-gl');
const dest = path.join(root, 'web/vendor/maplibre-gl');
const files = [['dist/maplibre-gl.js', 'maplibre-gl.js'], ['dist/maplibre-gl.css', 'maplibre-gl.css'], ['LICENSE.txt', 'LICENSE.txt']];

export function check() {
  const version = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version;
  const differ = files.filter(([from, to]) => !fs.readFileSync(path.join(pkg, from)).equals(fs.readFileSync(path.join(dest, to)))).map(([, to]) => to);
  const stated = fs.readFileSync(path.join(dest, 'VERSION'), 'utf8');
  if (!stated.startsWith(`maplibre-gl ${version} `)) differ.push(`VERSION (says ${stated.split(' ')[1]}, npm has ${version})`);
  return { version, differ };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    const version = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')).version;
    fs.mkdirSync(dest, { recursive: true });
    for (const [from, to] of files) fs.copyFileSync(path.join(pkg, from), path.join(dest, to));
    fs.writeFileSync(path.join(dest, 'VERSION'), `maplibre-gl ${version} (npm), dist/maplibre-gl.js and dist/maplibre-gl.css, unmodified. BSD-3-Clause: see LICENSE.txt. Update: change the version in package.json, npm install, npm run vendor.\n`);
    console.log(`vendored maplibre-gl ${version} into ${dest}`);
  } else {
    const { version, differ } = check();
    if (differ.length) { console.error(`web/vendor/maplibre-gl differs from npm's maplibre-gl ${version}: ${differ.join(', ')}; run npm run vendor`); process.exit(1); }
    console.log(`web/vendor/maplibre-gl is npm's maplibre-gl ${version}`);
  }
}
