// A second independent check of a served model on drawn shapes, by code that shares nothing with
// the training generators nor with drawn_set.py: SVG shapes rasterised by librsvg (through sharp),
// 5 shapes x 8 colours on white, black, beige and navy (pairs too close in colour left out), each
// scored against the 40 "a {colour} {shape}" captions through POST /v1/similarity.
//   node tools/train/svg_shapes_check.mjs [http://127.0.0.1:8080]
import sharp from 'sharp';

const base = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');

function starPoints() {
  const points = [];
  for (let i = 0; i < 10; i++) {
    const radius = i % 2 ? 20 : 50;
    const angle = -Math.PI / 2 + (i * Math.PI) / 5;
    points.push(`${64 + radius * Math.cos(angle)},${66 + radius * Math.sin(angle)}`);
  }
  return points.join(' ');
}

const SHAPES = {
  circle: (fill) => `<circle cx="64" cy="64" r="40" fill="${fill}"/>`,
  square: (fill) => `<rect x="30" y="34" width="70" height="70" fill="${fill}"/>`,
  triangle: (fill) => `<polygon points="64,18 112,104 16,104" fill="${fill}"/>`,
  star: (fill) => `<polygon points="${starPoints()}" fill="${fill}"/>`,
  ring: (fill) => `<circle cx="60" cy="68" r="34" fill="none" stroke="${fill}" stroke-width="18"/>`,
};
const COLOURS = {
  red: '#e01010', yellow: '#f5d000', green: '#10a030', cyan: '#10d0e0',
  blue: '#1030e0', purple: '#8020b0', white: '#ffffff', black: '#000000',
};
const BACKGROUNDS = { white: '#ffffff', black: '#000000', beige: '#f0e6c8', navy: '#203050' };
const TOO_CLOSE = { white: ['white'], black: ['black'], beige: ['white', 'yellow'], navy: ['black', 'blue', 'purple'] };

const captions = Object.keys(COLOURS).flatMap((colour) => Object.keys(SHAPES).map((shape) => `a ${colour} ${shape}`));

async function bestCaption(png) {
  const res = await fetch(`${base}/v1/similarity`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ images: [png.toString('base64')], texts: captions }),
  });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  const row = (await res.json()).cosine[0];
  return captions[row.indexOf(Math.max(...row))];
}

const count = { pictures: 0, joint: 0, colour: 0, shape: 0 };
for (const [background, bgFill] of Object.entries(BACKGROUNDS)) {
  for (const [colour, fill] of Object.entries(COLOURS)) {
    if (TOO_CLOSE[background].includes(colour)) continue;
    for (const [shape, draw] of Object.entries(SHAPES)) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128">` +
        `<rect width="128" height="128" fill="${bgFill}"/>${draw(fill)}</svg>`;
      const [, gotColour, gotShape] = (await bestCaption(await sharp(Buffer.from(svg)).png().toBuffer())).split(' ');
      count.pictures += 1;
      count.colour += gotColour === colour ? 1 : 0;
      count.shape += gotShape === shape ? 1 : 0;
      count.joint += gotColour === colour && gotShape === shape ? 1 : 0;
    }
  }
}
const pct = (n) => `${((100 * n) / count.pictures).toFixed(1)} %`;
console.log(`SVG shapes (librsvg) on white, black, beige, navy: ${count.pictures} pictures, ` +
  `colour and shape ${pct(count.joint)}, colour ${pct(count.colour)}, shape ${pct(count.shape)}`);
