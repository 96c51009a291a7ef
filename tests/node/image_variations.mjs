// The official OpenAI Node SDK against a running Tollgate: image variations (multipart, as the SDK sends them).
// Run by tests/e2e/test_image_variations_node.py, which reads the JSON this prints and checks it.
// Environment: TOLLGATE_URL (…/v1), TOLLGATE_KEY, IMAGE_FILE (a PNG to vary).
import { readFile } from "node:fs/promises";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.TOLLGATE_KEY, maxRetries: 0 });
const source = await readFile(process.env.IMAGE_FILE);

// PNG: 8-byte signature, then the IHDR chunk with width and height as big-endian 32-bit integers.
function pngSize(bytes) {
  return { signature: bytes.subarray(1, 4).toString("latin1"), width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

async function simulated() {
  const { data: varied, response } = await client.images
    .createVariation({ model: "sim-image", image: await toFile(source, "in.png", { type: "image/png" }), n: 2, size: "256x256" })
    .withResponse();
  return {
    pngs: varied.data.map((image) => pngSize(Buffer.from(image.b64_json, "base64"))),
    cost: response.headers.get("x-tollgate-cost-usd"),
    backend: response.headers.get("x-tollgate-backend"),
    requestId: response.headers.get("x-request-id"),
  };
}

async function provider() {
  const varied = await client.images.createVariation({
    model: "fake-image",
    image: await toFile(source, "node.png", { type: "image/png" }),
    size: "256x256",
    response_format: "url",
    user: "node-user",
  });
  return { urls: varied.data.map((image) => image.url) };
}

async function refusal() {
  try {
    await client.images.createVariation({
      model: "sim-image",
      image: await toFile(Buffer.from("not a picture"), "notes.png", { type: "image/png" }),
    });
    return { status: null };
  } catch (error) {
    return { status: error.status, code: error.code, param: error.param };
  }
}

console.log(JSON.stringify({ simulated: await simulated(), provider: await provider(), refusal: await refusal() }));
