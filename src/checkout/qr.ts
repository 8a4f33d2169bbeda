import { extname } from 'node:path';
import QRCode from 'qrcode';
import { invalidField } from '../domain/errors.js';

/**
 * The payment QR of a merchant without a website: a pay link drawn for a terminal, or written as an
 * image to print. Error correction M survives a scuffed sticker and keeps a ~150-character link small.
 */

const ERROR_CORRECTION = 'M';

export type QrImageFormat = 'svg' | 'png';

/** The image format named by a file's extension; anything else is a mistake the operator should hear about. */
export function qrImageFormat(path: string, field = 'out'): QrImageFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw invalidField(field, `expected a file name ending in .svg or .png, got "${path}"`);
}

/** Writes the QR of `text` as SVG or PNG, chosen by the file's extension. */
export async function writeQrImage(path: string, text: string): Promise<void> {
  const type = qrImageFormat(path);
  // 8 px per module and the standard 4-module quiet zone: sharp when printed at a few centimetres.
  await QRCode.toFile(path, text, { type, errorCorrectionLevel: ERROR_CORRECTION, margin: 4, scale: 8 });
}

const DARK_ON_LIGHT = '\x1b[30;47m';
const RESET = '\x1b[0m';
const QUIET_ZONE = 2;

/**
 * The QR drawn with Unicode half blocks, two modules per character cell, in black on white set
 * explicitly: a light-on-dark terminal would otherwise show it inverted, which some scanners refuse.
 * The quiet zone is 2 modules (the spec asks for 4; the white background around it makes up for it
 * on screen, and it keeps the code inside an 80-column terminal).
 */
export function qrForTerminal(text: string): string {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: ERROR_CORRECTION });
  const size = modules.size;
  const dark = (x: number, y: number) => x >= 0 && y >= 0 && x < size && y < size && modules.get(y, x) === 1;
  const lines: string[] = [];
  for (let y = -QUIET_ZONE; y < size + QUIET_ZONE; y += 2) {
    let line = '';
    for (let x = -QUIET_ZONE; x < size + QUIET_ZONE; x++) {
      const top = dark(x, y);
      const bottom = dark(x, y + 1);
      line += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(`${DARK_ON_LIGHT}${line}${RESET}`);
  }
  return lines.join('\n');
}
