import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { basemapPlugin } from './scripts/basemap.mjs';

// FLEET_API_ORIGIN: in development, forward /api and /ws to a running fleetd.
const api = process.env.FLEET_API_ORIGIN;

export default defineConfig({
  plugins: [react(), basemapPlugin()],
  build: {
    outDir: 'dist',
    sourcemap: true,
    chunkSizeWarningLimit: 1500,
  },
  server: api ? {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/ws': { target: api.replace(/^http/, 'ws'), ws: true },
      '/healthz': api,
    },
  } : undefined,
  test: {
    include: ['test/**/*.test.{js,jsx}'],
    environment: 'node',
  },
});
