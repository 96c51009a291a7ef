// The official OpenAI Node SDK against a running Tollgate: files and batches.
// Run by tests/e2e/test_batches_sdk.py, which reads the JSON this prints and checks it.
// Environment: TOLLGATE_URL (…/v1), TOLLGATE_KEY (the owner), OTHER_KEY (another customer's key).
import OpenAI, { toFile } from "openai";

const owner = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.TOLLGATE_KEY, maxRetries: 0 });
const other = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.OTHER_KEY, maxRetries: 0 });

const lines = [0, 1, 2].map((n) => ({
  custom_id: `node-${n}`,
  method: "POST",
  url: "/v1/chat/completions",
  body: { model: "sim-chat", messages: [{ role: "user", content: `node question ${n}` }] },
}));
const jsonl = lines.map((line) => JSON.stringify(line)).join("\n") + "\n";

async function statusOf(promise) {
  try {
    await promise;
    return 200;
  } catch (error) {
    return error.status;
  }
}

const file = await owner.files.create({ file: await toFile(Buffer.from(jsonl), "node.jsonl"), purpose: "batch" });
const created = await owner.batches.create({
  input_file_id: file.id,
  endpoint: "/v1/chat/completions",
  completion_window: "24h",
  metadata: { from: "node" },
});
let batch = created;
for (let tries = 0; batch.status !== "completed" && tries < 300; tries++) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  batch = await owner.batches.retrieve(created.id);
}
const output = await (await owner.files.content(batch.output_file_id)).text();
const listed = [];
for await (const page of owner.batches.list({ limit: 100 })) listed.push(page.id);

console.log(
  JSON.stringify({
    file: { purpose: file.purpose, bytes: file.bytes, size: Buffer.byteLength(jsonl) },
    batch: { status: batch.status, counts: batch.request_counts, metadata: batch.metadata, id: batch.id },
    output: output.trim().split("\n").map((line) => JSON.parse(line)),
    listed: listed.includes(created.id),
    otherRetrieve: await statusOf(other.batches.retrieve(created.id)),
    otherContent: await statusOf(other.files.content(batch.output_file_id)),
    cancelFinished: await statusOf(owner.batches.cancel(created.id)),
  }),
);
