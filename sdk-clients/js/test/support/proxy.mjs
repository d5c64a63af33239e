// A TCP proxy in front of onair, to drop connections the way a network
// does: `cut()` resets every open connection and refuses new ones until
// `restore()`; `stall()` freezes the open ones without closing them (a
// dead path nobody reports). HTTP and WebSockets pass through untouched.
import net from "node:net";

/** Starts a proxy to 127.0.0.1:`targetPort`; resolves with `{url, cut, restore, close}`. */
export async function startProxy(targetPort) {
  const open = new Set();
  const pairs = new Set();
  let refusing = false;
  const drop = (s) => (s.resetAndDestroy ? s.resetAndDestroy() : s.destroy());
  const server = net.createServer((client) => {
    if (refusing) return drop(client);
    const upstream = net.connect(targetPort, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    client.pipe(upstream).pipe(client);
    const pair = { client, upstream };
    pairs.add(pair);
    const done = () => { open.delete(client); open.delete(upstream); pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on("error", done).on("close", done);
    upstream.on("error", done).on("close", done);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    /** Resets every connection and refuses new ones. */
    cut() { refusing = true; for (const s of [...open]) drop(s); },
    /** Freezes every open connection: nothing more passes either way, and nobody is told. */
    stall() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    /** Accepts connections again. */
    restore() { refusing = false; },
    close() { this.cut(); return new Promise((r) => server.close(r)); },
  };
}
