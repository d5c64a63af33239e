// The events socket in Chromium survives a dropped connection: the page
// is served through a TCP proxy in front of OnAir (its origin, so REST is
// same-origin too); the proxy resets every connection and refuses new
// ones while events happen; once it lets them through again the page has
// heard every event of its calls (a member call and a watched one)
// exactly once, in log order.
import { openPage, until, check, uniqueId } from "./lib.mjs";
import { startProxy } from "../support/proxy.mjs";
import { api } from "../support/onair.mjs";

export async function socketDrop(browser, onair) {
  const proxy = await startProxy(Number(new URL(onair.url).port));
  const server = api(onair.url, onair.serverToken());
  const page = await openPage(browser, proxy.url, onair.userToken("dora"), "dora");
  try {
    const member = `default:${uniqueId("member")}`;
    const watched = `livestream:${uniqueId("watched")}`;
    await server("POST", `/calls/${watched.replace(":", "/")}`, { data: { members: [{ user_id: "henry", role: "host" }] } });
    await page.evaluate(async ([m, w]) => {
      await window.client.call(m).getOrCreate();
      await window.client.call(w).get();
    }, [member, watched]);
    let start = "0";
    for (let page = { next: "0" }; page.next; page = await server("GET", `/events?after=${page.next}&limit=1000`)) start = page.next;
    const send = (cid, n) => server("POST", `/calls/${cid.replace(":", "/")}/event`, { custom: { n } });

    proxy.cut();
    await until("the page seeing the drop", 10000, () => page.evaluate(() => window.heard.some((e) => e.type === "connection.changed" && !e.online)));
    for (let n = 1; n <= 4; n++) {
      await send(member, n);
      await send(watched, n);
    }
    await new Promise((r) => setTimeout(r, 1500));
    proxy.restore();
    await until("the resumed connection", 15000, () => page.evaluate(() => window.heard.some((e) => e.type === "connection.ok" && e.resumed)));
    await send(member, 5);

    const truth = [];
    for (const cid of [member, watched]) truth.push(...(await server("GET", `/events?call_cid=${cid}&after=${start}`)).events);
    truth.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const got = await until("every event", 15000, async () => {
      const heard = await page.evaluate((s) => window.heard.filter((e) => e.id && BigInt(e.id) > BigInt(s)), start);
      return heard.length >= truth.length ? heard : null;
    });
    await new Promise((r) => setTimeout(r, 500));
    const final = await page.evaluate((s) => window.heard.filter((e) => e.id && BigInt(e.id) > BigInt(s)).map((e) => e.id), start);
    check(truth.filter((e) => e.type === "custom").length === 9, `the log holds ${truth.length} events`);
    check(JSON.stringify(final) === JSON.stringify(truth.map((e) => e.id)), `heard ${JSON.stringify(final)}, the log has ${JSON.stringify(truth.map((e) => e.id))}`);
    const drops = await page.evaluate(() => window.heard.filter((e) => e.type === "connection.ok").length);
    console.log(`  ${got.length} events across a drop (${drops} connections), each once and in order, watched call included`);
  } finally {
    await page.context().close();
    await proxy.close();
  }
}
