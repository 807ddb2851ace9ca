// Child process of the SqliteStore durability test: writes one batch through the real SqliteStore,
// prints "written" once write() resolved, then idles without closing the store until the parent
// kills it with SIGKILL. TypeScript sources are transpiled on the fly with the `typescript` package
// (no ts-node, no build step): `node child-writer.js <dataDir> <batch.json>`.
'use strict';
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(out.outputText, filename);
};

const { SqliteStore } = require('../sqliteStore.ts');

(async () => {
  const [dataDir, batchFile] = process.argv.slice(2);
  const store = new SqliteStore(dataDir);
  await store.init();
  await store.write(JSON.parse(fs.readFileSync(batchFile, 'utf8')));
  process.stdout.write('written\n');
  setInterval(() => {}, 60_000);
})().catch((e) => {
  process.stderr.write(`child-writer: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
