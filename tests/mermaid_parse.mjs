// Mermaid's own parser (mermaid 11, in Node with jsdom for the DOM it expects) over the
// ```mermaid block of each Markdown file named: prints each one it rejects, and exits 1 if any.
import { readFileSync } from "fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
globalThis.Element = dom.window.Element;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let rejected = 0;
for (const file of process.argv.slice(2)) {
  const block = readFileSync(file, "utf8").split("```mermaid\n")[1].split("```")[0];
  try {
    await mermaid.parse(block);
  } catch (error) {
    rejected++;
    console.log(`${file}: ${String(error.message || error).split("\n")[0]}`);
  }
}
process.exit(rejected ? 1 : 0);
