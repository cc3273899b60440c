// The two builds compile the same CPU sources: CMakeLists.txt (cmake-js, primary) and binding.gyp.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

import { root } from './helpers';

function cmakeList(name: string): string[] {
  const text = readFileSync(join(root, 'CMakeLists.txt'), 'utf8');
  const m = new RegExp(`set\\(${name}\\s+([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`CMakeLists.txt has no set(${name} ...)`);
  return m[1].split(/\s+/).filter((s) => s && !s.startsWith('#'));
}

function gypSources(): string[] {
  const text = readFileSync(join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
  const gyp = JSON.parse(text) as { targets: { target_name: string; sources: string[] }[] };
  return gyp.targets.find((t) => t.target_name === 'turboformer')!.sources;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [relative(root, p)];
  });
}

describe('build source lists', () => {
  const cpu = cmakeList('TURBOFORMER_CPU_SOURCES');
  const noCuda = cmakeList('TURBOFORMER_NO_CUDA_SOURCES');
  const cuda = cmakeList('TURBOFORMER_CUDA_SOURCES');

  it('binding.gyp lists exactly the CMake CPU sources plus the no-CUDA stub', () => {
    expect([...gypSources()].sort()).toEqual([...cpu, ...noCuda].sort());
  });

  it('every C++ and CUDA source under native/ is in a list, and every listed file exists', () => {
    const onDisk = walk(join(root, 'native')).filter((f) => /\.(cc|cu)$/.test(f)).sort();
    expect([...cpu, ...noCuda, ...cuda].sort()).toEqual(onDisk);
  });

  it('lists have no duplicates', () => {
    const all = [...cpu, ...noCuda, ...cuda];
    expect(new Set(all).size).toBe(all.length);
  });
});
