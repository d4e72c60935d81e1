// Copies Swagger UI's assets from the npm package into dist/swagger/, so /docs needs no CDN.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const source = require("swagger-ui-dist").getAbsoluteFSPath();
const target = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "swagger");
mkdirSync(target, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]) {
  copyFileSync(join(source, name), join(target, name));
}
console.log(`copied Swagger UI assets into ${target}`);
