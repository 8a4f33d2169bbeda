// Writes prompts/common/test-tone.wav: 1 s of 440 Hz then 660 Hz, 8 kHz mono 16-bit PCM, with short
// fades so it starts and ends without a click. Played by `callpay call test`.
import { writeFileSync } from 'node:fs';

const rate = 8000;
const samples = rate;
const pcm = Buffer.alloc(samples * 2);
for (let i = 0; i < samples; i++) {
  const freq = i < samples / 2 ? 440 : 660;
  const fade = Math.min(1, i / 160, (samples - i) / 160);
  pcm.writeInt16LE(Math.round(Math.sin((2 * Math.PI * freq * i) / rate) * 12000 * fade), i * 2);
}
const header = Buffer.alloc(44);
header.write('RIFF', 0);
header.writeUInt32LE(36 + pcm.length, 4);
header.write('WAVEfmt ', 8);
header.writeUInt32LE(16, 16);
header.writeUInt16LE(1, 20); // PCM
header.writeUInt16LE(1, 22); // mono
header.writeUInt32LE(rate, 24);
header.writeUInt32LE(rate * 2, 28);
header.writeUInt16LE(2, 32);
header.writeUInt16LE(16, 34);
header.write('data', 36);
header.writeUInt32LE(pcm.length, 40);
writeFileSync(new URL('../prompts/common/test-tone.wav', import.meta.url), Buffer.concat([header, pcm]));
