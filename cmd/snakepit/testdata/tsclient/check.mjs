// The official MCP TypeScript client against `snakepit mcp --stateful`:
// every answer, capped large ones included, must reach it, and the session
// must live through them (its read buffer is 10 MiB: a longer line closed
// the connection and lost the session). Usage: node check.mjs SNAKEPIT_BINARY
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const transport = new StdioClientTransport({
  command: process.argv[2],
  args: ["mcp", "--stateful", "--workers", "1", "--timeout", "5s"],
  stderr: "inherit",
});
const client = new Client({ name: "tsclient-check", version: "0" });
await client.connect(transport);

const cases = [
  ["x = 41", false],
  ["'x' * 15_900_000", false], // a value under the 16 MiB result cap
  ["print('y' * (4 << 20))", false], // stdout past its 1 MiB cap
  ["raise ValueError('z' * (8 << 20))", true], // a huge exception message
  ["'\\x01' * (2 << 20)", false], // a value that JSON escapes sixfold (12 MiB as JSON)
  ["x + 1", false], // the session lived through all of it
];
let failed = 0;
for (const [code, wantError] of cases) {
  const res = await client.callTool({ name: "run_python", arguments: { code } });
  const text = res.content[0].text;
  const size = JSON.stringify(res).length;
  const ok = Boolean(res.isError) === wantError;
  console.log(`${ok ? "ok  " : "FAIL"} ${JSON.stringify(code.slice(0, 40))}: ${size} bytes, isError=${Boolean(res.isError)}`);
  if (!ok) failed++;
  if (code === "x + 1" && res.structuredContent.value !== 42) {
    console.log(`FAIL the session's state is gone: ${text.slice(0, 200)}`);
    failed++;
  }
}
await client.close();
console.log(`${cases.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
