import { defineConfig, mergeConfig } from 'vitest/config';

import base from '../../vitest.config.mts';

// The project's test configuration plus the call recorder (scripts/fuzz/record.setup.ts).
export default mergeConfig(base, defineConfig({ test: { setupFiles: ['scripts/fuzz/record.setup.ts'] } }));
