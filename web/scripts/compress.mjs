// Writes a .gz beside each built text or wasm asset: missive-server serves
// the precompressed copy to browsers that accept gzip (the crypto wasm goes
// from 5.4 MB to 1.8 MB) without compressing on every request.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, constants } from "node:zlib";

const COMPRESSIBLE = /\.(js|css|html|wasm|svg|json|webmanifest)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (COMPRESSIBLE.test(name) && statSync(path).size > 1024) {
      writeFileSync(`${path}.gz`, gzipSync(readFileSync(path), { level: constants.Z_BEST_COMPRESSION }));
    }
  }
}

walk(new URL("../dist", import.meta.url).pathname);
