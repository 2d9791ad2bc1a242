// The one place the native addon is loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../typings/native';
import { errorFromNative } from './errors';

/** The package root: the nearest directory above this file whose package.json is ours. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ebpf') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`ebpf: cannot find the package root above ${__dirname}`);
    dir = parent;
  }
}

function load(): NativeBinding {
  const override = process.env.EBPF_NATIVE;
  if (override) {
    // A specific build (the test suite runs once against each build).
    return require(path.resolve(override)) as NativeBinding;
  }
  const root = packageRoot();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(root) as NativeBinding;
  } catch (cause) {
    const message =
      `ebpf: the native addon could not be loaded for ${process.platform}-${process.arch} ` +
      `(Node ${process.version}, N-API ${process.versions.napi}).\n` +
      `  - no prebuilt addon in ${path.join(root, 'prebuilds')} matched this platform, and\n` +
      `  - no source build was found in ${path.join(root, 'build', 'Release')}.\n` +
      `Build it from source: approve the package's install script (npm install-scripts approve ebpf) ` +
      `and run "npm rebuild ebpf" (needs a C++ compiler, libelf-dev and zlib1g-dev, and libbpf ` +
      `>= 1.1 with pkg-config, or bash scripts/libbpf.sh for the pinned static libbpf).\n` +
      `Cause: ${(cause as Error).message}`;
    throw new Error(message, { cause });
  }
}

export const native: NativeBinding = load();
native.setErrorFactory(errorFromNative);
