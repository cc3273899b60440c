#!/usr/bin/env node
/**
 * turboformer command line.
 *   turboformer            machine info, then the self-check (what `npm start` runs)
 *   turboformer info       what info() returns, readable (--json for JSON)
 *   turboformer selfcheck  the self-check only; exit code 1 if any check fails
 */
import { info, type Info } from './runtime';
import { selfCheck } from './selfcheck';

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

export function formatInfo(i: Info): string {
  const on = Object.entries(i.features).filter(([, v]) => v).map(([k]) => k);
  const lines = [
    `turboformer ${i.version} (Node ${i.node}, ${i.platform}-${i.arch}, N-API ${i.napiVersion})`,
    `  CPU features   ${on.length ? on.join(' ') : 'none of the tracked SIMD extensions'}`,
    `  kernel level   ${i.isa.active} (best ${i.isa.best}, chosen by ${i.isa.source}; supported: ${i.isa.supported.join(', ')})`,
  ];
  if (i.isa.warning) lines.push(`  warning        ${i.isa.warning}`);
  lines.push(
    `  threads        ${i.threads.count} (machine: ${i.threads.hardware}; from ${i.threadsSource})`,
    `  build          ${i.build.system}, ${i.build.compiler}, ${i.build.type}, ${i.build.arch}, kernels: ${i.build.isaKernels}`,
  );
  const c = i.cuda;
  if (!c.compiled) {
    lines.push(`  CUDA           not built: ${c.message}`);
  } else if (!c.available) {
    lines.push(`  CUDA           built for sm ${c.architectures} (runtime ${c.runtimeVersion}); ${c.message}`);
  } else {
    lines.push(`  CUDA           built for sm ${c.architectures}, runtime ${c.runtimeVersion}, driver ${c.driverVersion}`);
    for (const d of c.devices) {
      lines.push(`    device ${d.index}     ${d.name}, compute ${d.computeCapability}, ${d.multiprocessors} SMs, ${formatBytes(d.totalMemory)}`);
    }
  }
  return lines.join('\n');
}

async function runSelfCheck(): Promise<boolean> {
  const results = await selfCheck();
  console.log('\nself-check');
  for (const r of results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed ? `${failed} of ${results.length} checks FAILED` : `all ${results.length} checks passed`);
  return failed === 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      console.log(formatInfo(info()));
      return (await runSelfCheck()) ? 0 : 1;
    case 'info':
      console.log(rest.includes('--json') ? JSON.stringify(info(), null, 2) : formatInfo(info()));
      return 0;
    case 'selfcheck':
      return (await runSelfCheck()) ? 0 : 1;
    case '-h':
    case '--help':
    case 'help':
      console.log('usage: turboformer [info [--json] | selfcheck]\n  no command: info, then the self-check');
      return 0;
    default:
      console.error(`turboformer: unknown command '${cmd}'. Try: turboformer --help`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
