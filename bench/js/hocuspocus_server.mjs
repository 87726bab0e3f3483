// The peer of bench.yjs: a stock @hocuspocus/server with its default configuration (documents in
// memory, no extensions), on 127.0.0.1 and a port the kernel picks; prints {"port"} once listening.
import { Server } from "@hocuspocus/server";

const server = new Server({ address: "127.0.0.1", port: 0, quiet: true });
await server.listen();
process.stdout.write(JSON.stringify({ port: server.address.port }) + "\n");
const stop = async () => { await server.destroy(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
