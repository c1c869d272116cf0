/** Photo-like test pictures (gradients, edges, noise) for the preprocessing and HTTP benchmarks. */
import sharp from 'sharp';

/** A deterministic picture of the given width, 4:3, encoded as JPEG (quality 90) or PNG. */
export async function picture(width: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const height = Math.round((width * 3) / 4);
  const raw = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed >>> 24) / 32 - 4;
      const i = (y * width + x) * 3;
      raw[i] = 128 + 90 * Math.sin(x / (width / 7)) + noise;
      raw[i + 1] = ((x * 255) / width + ((y >> 5) % 2) * 40 + noise) & 0xff;
      raw[i + 2] = 128 + 100 * Math.cos((x + y) / (width / 11)) + noise;
    }
  }
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer();
}
