// The official OpenAI Node SDK against a running Tollgate: images and transcriptions.
// Run by tests/e2e/test_media_node_sdk.py, which reads the JSON this prints and checks it.
// Environment: TOLLGATE_URL (…/v1), TOLLGATE_KEY, AUDIO_FILE (a WAV to transcribe).
import { readFile } from "node:fs/promises";
import OpenAI, { toFile } from "openai";

const client = new OpenAI({ baseURL: process.env.TOLLGATE_URL, apiKey: process.env.TOLLGATE_KEY, maxRetries: 0 });

// PNG: 8-byte signature, then the IHDR chunk with width and height as big-endian 32-bit integers.
function pngSize(bytes) {
  return { signature: bytes.subarray(1, 4).toString("latin1"), width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

async function images() {
  const { data: generated, response } = await client.images
    .generate({ model: "sim-image", prompt: "a lighthouse at dusk", n: 2, size: "256x256" })
    .withResponse();
  const pngs = generated.data.map((image) => pngSize(Buffer.from(image.b64_json, "base64")));
  const source = await toFile(Buffer.from(generated.data[0].b64_json, "base64"), "in.png", { type: "image/png" });
  const edited = await client.images.edit({ model: "sim-image", image: source, prompt: "make it night", size: "1024x1024" });
  return {
    pngs,
    cost: response.headers.get("x-tollgate-cost-usd"),
    backend: response.headers.get("x-tollgate-backend"),
    edited: pngSize(Buffer.from(edited.data[0].b64_json, "base64")),
  };
}

async function transcriptions() {
  const audio = await readFile(process.env.AUDIO_FILE);
  const { data: json, response } = await client.audio.transcriptions
    .create({ model: "sim-whisper", file: await toFile(audio, "speech.wav", { type: "audio/wav" }) })
    .withResponse();
  const verbose = await client.audio.transcriptions.create({
    model: "fake-whisper",
    file: await toFile(audio, "speech.wav", { type: "audio/wav" }),
    response_format: "verbose_json",
    timestamp_granularities: ["word"],
  });
  const srt = await client.audio.transcriptions.create({
    model: "sim-whisper",
    file: await toFile(audio, "speech.wav", { type: "audio/wav" }),
    response_format: "srt",
  });
  return {
    text: json.text,
    cost: response.headers.get("x-tollgate-cost-usd"),
    requestId: response.headers.get("x-request-id"),
    verboseText: verbose.text,
    words: verbose.words.length,
    srt,
  };
}

async function refusal() {
  try {
    await client.audio.transcriptions.create({
      model: "sim-whisper",
      file: await toFile(Buffer.from("not audio at all"), "notes.wav", { type: "audio/wav" }),
    });
    return { status: null };
  } catch (error) {
    return { status: error.status, code: error.code, message: error.error?.message ?? error.message };
  }
}

console.log(JSON.stringify({ images: await images(), transcriptions: await transcriptions(), refusal: await refusal() }));
