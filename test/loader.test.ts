// lib/native.ts: loads through node-gyp-build, and a failed load says what was tried and how to fix it.
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { root, runNode } from './helpers';

const tmp = mkdtempSync(join(tmpdir(), 'turboformer-loader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loader', () => {
  it('loads the addon with every function the binding type declares', () => {
    for (const f of ['info', 'setNumThreads', 'getNumThreads', 'setIsa', 'alloc', 'detach', 'memoryStats', 'mapFile', 'convert', 'convertAsync', 'add', 'addAsync', 'cudaAdd', 'cudaAddAsync']) {
      expect(typeof (binding as unknown as Record<string, unknown>)[f]).toBe('function');
    }
  });

  it('the compiled package loads via require and exposes the API', () => {
    const r = runNode("const t=require('./dist/index.js'); console.log(typeof t.Tensor, typeof t.ops.add, typeof t.info().isa.active)");
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function function string');
  });

  it('TURBOFORMER_ADDON pointing nowhere gives one error saying what was tried and how to fix it', () => {
    const r = runNode("require('./dist/native.js')", { TURBOFORMER_ADDON: '/nonexistent/turboformer.node' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/turboformer: could not load the native addon for linux|turboformer: could not load the native addon/);
    expect(r.stderr).toMatch(/Tried: \/nonexistent\/turboformer\.node/);
    expect(r.stderr).toMatch(/How to fix/);
    expect(r.stderr).toMatch(/TURBOFORMER_ADDON is set/);
  });

  it('a package with no build and no prebuild names the places it looked', () => {
    const pkg = join(tmp, 'pkg');
    mkdirSync(join(pkg, 'node_modules'), { recursive: true });
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    symlinkSync(join(root, 'node_modules', 'node-gyp-build'), join(pkg, 'node_modules', 'node-gyp-build'));
    const r = runNode(`require(${JSON.stringify(join(pkg, 'dist', 'native.js'))})`, { TURBOFORMER_ADDON: undefined });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/could not load the native addon/);
    expect(r.stderr).toMatch(/none exists/);
    expect(r.stderr).toMatch(/npm run build:native|npm rebuild turboformer/);
  });
});
