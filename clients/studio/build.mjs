// Build the studio into one ES module the Python package serves (plugins/studio/static/studio.js).
// Shared libraries resolve from this package's node_modules, so the provider (a file: dependency
// with node_modules of its own) and the editor binding use one copy of yjs: two copies break
// Yjs's type checks ("Yjs was already imported").
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = ["yjs", "lib0", "y-protocols", "socket.io-client"];
const pattern = new RegExp(`^(${shared.map((n) => n.replace(".", "\\.")).join("|")})(/.*)?$`);
const oneCopy = {
  name: "one-copy",
  setup(b) {
    b.onResolve({ filter: pattern }, (args) => args.pluginData === "one-copy" ? undefined
      : b.resolve(args.path, { kind: args.kind, resolveDir: here, pluginData: "one-copy" }));
  },
};
const outfile = process.argv[2] || path.join(here, "../../plugins/studio/static/studio.js");

await build({
  entryPoints: [path.join(here, "src/studio.js")],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  legalComments: "none",
  plugins: [oneCopy],
  outfile,
  logLevel: "warning",
});
