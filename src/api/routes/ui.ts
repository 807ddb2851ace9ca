import express from 'express';
import type { RouteModule } from '../app';
import { UI_CSP, UI_STATIC_DIR, uiAvailable } from '../../ui';

/**
 * The investigation dashboard at /ui/ (static files; it talks only to the /v1 API with the user's
 * bearer token, so serving the files needs no token). `/` redirects to it.
 */
export function uiRoutes(opts: { dir?: string } = {}): RouteModule {
  const dir = opts.dir ?? UI_STATIC_DIR;
  return (app, { deps }) => {
    if (!uiAvailable(dir)) {
      deps.log.warn('dashboard files not found; /ui is off', { dir });
      return;
    }
    app.get('/', (_req, res) => res.redirect(302, '/ui/'));
    app.use('/ui', (req, res, next) => {
      res.setHeader('Content-Security-Policy', UI_CSP);
      res.setHeader('X-Frame-Options', 'DENY');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      // `/ui` → `/ui/`, so the page's relative URLs (./app.css, ../v1/...) resolve.
      if (req.originalUrl === '/ui' || req.originalUrl.startsWith('/ui?')) {
        res.redirect(301, '/ui/');
        return;
      }
      next();
    });
    app.use('/ui', express.static(dir, { index: 'index.html', dotfiles: 'ignore', redirect: false, fallthrough: true }));
  };
}
