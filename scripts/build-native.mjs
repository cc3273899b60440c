#!/usr/bin/env node
// Builds the addon with cmake-js (the primary build) into build/Release.
// A build/ folder left by node-gyp (e.g. from `npm install` in a clone) is replaced by a clean CMake build.
// Environment: TURBOFORMER_CUDA=AUTO|ON|OFF, TURBOFORMER_CUDA_ARCHS="90" (semicolon or comma separated),
// TURBOFORMER_BUILD_JOBS (parallel compile jobs; default: all cores).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const fresh = !existsSync(join(root, 'build', 'CMakeCache.txt'));
const args = [cmakeJs, fresh ? 'rebuild' : 'build', '--log-level', 'warn'];
const cuda = process.env.TURBOFORMER_CUDA;
if (cuda) args.push(`--CDTURBOFORMER_CUDA=${cuda}`);
const archs = process.env.TURBOFORMER_CUDA_ARCHS;
if (archs) args.push(`--CDTURBOFORMER_CUDA_ARCHS=${archs.replace(/,/g, ';')}`);
const jobs = process.env.TURBOFORMER_BUILD_JOBS ?? String(availableParallelism());
args.push('--parallel', jobs);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
