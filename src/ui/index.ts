import fs from 'node:fs';
import path from 'node:path';

/**
 * Where the dashboard's static files are. They are plain HTML/CSS/ES modules with no build step, so
 * they stay in src/ui/static and are served from there by both ts-jest (src/ui) and the compiled
 * service (dist/ui): both are two levels below the repository root.
 */
export const UI_STATIC_DIR = path.resolve(__dirname, '../../src/ui/static');

/** True when the dashboard's files are present (a package built without src/ has no dashboard). */
export function uiAvailable(dir: string = UI_STATIC_DIR): boolean {
  return fs.existsSync(path.join(dir, 'index.html'));
}

/**
 * Content-Security-Policy of the dashboard: everything from this origin only, no inline script or
 * style attributes (the scripts set styles through the CSSOM, which CSP allows), no framing.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
