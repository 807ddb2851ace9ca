// Preloaded into the auditmesh process by bench/soak.mjs (`node --require bench/lib/memsample.cjs
// bin/auditmesh.js serve`): appends one JSON line of process.memoryUsage() every
// AUDITMESH_MEMSAMPLE_MS (default 10 s) to AUDITMESH_MEMSAMPLE_FILE. Nothing of the product changes;
// the timer is unref'd, so it never keeps the process alive.
'use strict';
const fs = require('node:fs');

const file = process.env.AUDITMESH_MEMSAMPLE_FILE;
if (file) {
  const every = Number(process.env.AUDITMESH_MEMSAMPLE_MS || 10_000);
  const sample = () => {
    const m = process.memoryUsage();
    fs.appendFileSync(file, `${JSON.stringify({ t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
  };
  sample();
  setInterval(sample, every).unref();
}
