// Bundles the operator's map page into dist/ (run by ./dev setup after npm ci).
// MapLibre GL JS 6 ships ES modules that load their worker from their own folder, so its
// three modules are copied next to the bundle and imported from there; milsymbol and the
// page's own code are bundled by esbuild. Nothing is fetched at run time.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const out = "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  minify: true,
  sourcemap: false,
  target: ["es2022"],
  external: ["./maplibre-gl.mjs"],
  outfile: `${out}/app.js`,
  logLevel: "warning",
});
const lib = "node_modules/maplibre-gl/dist";
for (const f of ["maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl-shared.mjs", "maplibre-gl.css"]) {
  copyFileSync(`${lib}/${f}`, `${out}/${f}`);
}
copyFileSync("node_modules/maplibre-gl/LICENSE.txt", `${out}/LICENSE.maplibre-gl.txt`);
copyFileSync("node_modules/milsymbol/LICENSE", `${out}/LICENSE.milsymbol.txt`);
copyFileSync("src/app.css", `${out}/app.css`);
console.log(`bundled the map page into ${out}/`);
