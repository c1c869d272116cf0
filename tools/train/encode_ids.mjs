// Token ids of rendered scenes through onnxruntime-node, for tools/train (toklip_train/onnx_ids.py):
// PyTorch 1.13's CPU convolutions take about 70 ms per 128 px scene on 2 cores, onnxruntime a
// few ms, which is what lets stage B train on many more scenes.
//   node tools/train/encode_ids.mjs REQUEST.json
// REQUEST: {"graph": vq_encoder.onnx, "pixels": {"file", "shape": [B,R,R,3]} (uint8, HWC as
// rendered), "out": ids file, "threads": 2}. Writes int64 [B,N] ids to out.
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { openSession } from './ort_session.mjs';

const BATCH = 64;

async function main() {
  const request = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const [count, height, width, channels] = request.pixels.shape;
  const pixels = readFileSync(request.pixels.file);
  if (pixels.length !== count * height * width * channels) throw new Error('pixel file size does not match its shape');
  const session = await openSession(request.graph, request.threads);
  const plane = height * width;
  const chunks = [];
  for (let start = 0; start < count; start += BATCH) {
    const n = Math.min(BATCH, count - start);
    // uint8 HWC -> float32 CHW in [-1, 1]: TokLIP's preprocessing of a 128 px image.
    const input = new Float32Array(n * channels * plane);
    for (let b = 0; b < n; b++) {
      const src = (start + b) * plane * channels;
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < channels; c++) {
          input[(b * channels + c) * plane + p] = pixels[src + p * channels + c] / 127.5 - 1;
        }
      }
    }
    const result = await session.run({ pixels: new ort.Tensor('float32', input, [n, channels, height, width]) });
    chunks.push(result.ids.data);
  }
  await session.release();
  writeFileSync(request.out, Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
