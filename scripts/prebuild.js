// The committed prebuild (prebuilds/linux-x64/ebpf.glibc.node) and the record of what it
// was built from (prebuilds/linux-x64/ebpf.glibc.node.json).
//
//   node scripts/prebuild.js              build it with prebuildify (N-API, stripped,
//                                         glibc-tagged, the pinned static libbpf) and record
//                                         the source hash: npm run build:prebuild
//   node scripts/prebuild.js --out DIR    the same build into DIR/prebuilds/ (CI's rebuild)
//   node scripts/prebuild.js --check      exit 1 when the committed prebuild no longer
//                                         matches the sources: npm run check:prebuild
//
// The source hash covers src-native/**, binding.gyp, the scripts binding.gyp runs, the
// pinned libbpf (scripts/libbpf.sh's version stamp), node-addon-api's version and the
// build flags below. Compilers differ between machines and a rebuilt binary need not be
// byte-identical, so the check compares this hash, never the binary's bytes; the binary's
// own sha256 is recorded only to tie the record to the file it describes.
//
// The build runs in a scratch copy of the sources, so build/ (the developer's node-gyp
// build, which node-gyp-build prefers to prebuilds/) is left alone.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.join(__dirname, '..');
const PLATFORM = `${process.platform}-${process.arch}`;
const FILE = 'ebpf.glibc.node';
const RECORD = `${FILE}.json`;
// What `npm run build:prebuild` asks prebuildify for; part of the hash.
const PREBUILDIFY_OPTIONS = { napi: true, strip: true, tagLibc: 'glibc' };
// The files of the build, besides src-native/**.
const BUILD_FILES = ['binding.gyp', 'scripts/sources.js', 'scripts/libbpf-mode.js'];

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

function listFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listFiles(rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

/** The libbpf stamp scripts/libbpf.sh writes for the version it pins. */
function pinnedLibbpf() {
  const script = fs.readFileSync(path.join(root, 'scripts', 'libbpf.sh'), 'utf8');
  const debian = /^LIBBPF_DEBIAN_VERSION=(\S+)$/m.exec(script);
  const stamp = /^STAMP="\$LIBBPF_DEBIAN_VERSION(\S*)"$/m.exec(script);
  if (!debian || !stamp) throw new Error('scripts/libbpf.sh: cannot find LIBBPF_DEBIAN_VERSION and STAMP');
  return debian[1] + stamp[1];
}

/** Everything the prebuild is made from, and the hash of it all. */
function sources() {
  const files = {};
  for (const rel of [...listFiles('src-native'), ...BUILD_FILES]) {
    files[rel] = sha256(fs.readFileSync(path.join(root, rel)));
  }
  const inputs = {
    files,
    libbpf: pinnedLibbpf(),
    nodeAddonApi: require('node-addon-api/package.json').version,
    prebuildify: PREBUILDIFY_OPTIONS,
  };
  return { inputs, hash: sha256(JSON.stringify(inputs)) };
}

/** What changed between the recorded inputs and the current ones, one line each. */
function differences(recorded, current) {
  const lines = [];
  const names = new Set([...Object.keys(recorded.files ?? {}), ...Object.keys(current.files)]);
  for (const name of [...names].sort()) {
    const was = recorded.files?.[name];
    const now = current.files[name];
    if (was !== now) lines.push(`${name}: ${!was ? 'added' : !now ? 'removed' : 'changed'}`);
  }
  for (const key of ['libbpf', 'nodeAddonApi', 'prebuildify']) {
    const was = JSON.stringify(recorded[key]);
    const now = JSON.stringify(current[key]);
    if (was !== now) lines.push(`${key}: ${was} -> ${now}`);
  }
  return lines;
}

/** Problems with the committed prebuild in prebuilds/, as messages (none when it is current). */
function check(dir = path.join(root, 'prebuilds', PLATFORM)) {
  const binary = path.join(dir, FILE);
  const recordPath = path.join(dir, RECORD);
  const rebuild = 'run "npm run build:prebuild" and commit prebuilds/';
  if (!fs.existsSync(binary) || !fs.existsSync(recordPath)) {
    return [`${path.relative(root, binary)} or its record ${RECORD} is missing: ${rebuild}`];
  }
  const record = JSON.parse(fs.readFileSync(recordPath, 'utf8'));
  const problems = [];
  if (record.sha256 !== sha256(fs.readFileSync(binary))) {
    problems.push(`${path.relative(root, binary)} is not the binary ${RECORD} describes: ${rebuild}`);
  }
  const current = sources();
  if (record.sourceHash !== current.hash) {
    problems.push(
      `the committed prebuild was built from other sources than these: ${rebuild}\n` +
        differences(record.inputs ?? { files: {} }, current.inputs)
          .map((l) => `    ${l}`)
          .join('\n'),
    );
  }
  return problems;
}

/** Copies what binding.gyp needs into a scratch directory; node_modules and deps are linked. */
function scratchCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-prebuild-${process.pid}-`));
  for (const rel of ['package.json', 'src-native', ...BUILD_FILES]) {
    fs.cpSync(path.join(root, rel), path.join(dir, rel), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  fs.mkdirSync(path.join(dir, 'deps'));
  fs.symlinkSync(path.join(root, 'deps', 'libbpf'), path.join(dir, 'deps', 'libbpf'));
  return dir;
}

async function build(out) {
  const installed = path.join(root, 'deps', 'libbpf', 'install');
  let stamp = '';
  try {
    stamp = fs.readFileSync(path.join(installed, '.version'), 'utf8').trim();
  } catch {
    // reported below
  }
  const { inputs, hash } = sources();
  if (stamp !== inputs.libbpf) {
    throw new Error(
      `the prebuild links the pinned static libbpf ${inputs.libbpf}, but deps/libbpf holds ` +
        `${stamp || 'nothing'}: run bash scripts/libbpf.sh first`,
    );
  }
  const scratch = scratchCopy();
  const dest = path.join(out, 'prebuilds', PLATFORM);
  const prebuildify = require('prebuildify');
  const options = { ...PREBUILDIFY_OPTIONS, cwd: scratch, out, targets: [process.versions.node] };
  // node-gyp compiles against this Node's own headers when it has them (as npm's nodedir
  // setting does), instead of downloading them.
  const prefix = path.resolve(process.execPath, '..', '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
    process.env.npm_config_nodedir = prefix;
  }
  const saved = process.env.EBPF_LIBBPF;
  process.env.EBPF_LIBBPF = 'static'; // prebuildify passes its environment to node-gyp
  try {
    await new Promise((resolve, reject) => prebuildify(options, (err) => (err ? reject(err) : resolve())));
  } finally {
    if (saved === undefined) delete process.env.EBPF_LIBBPF;
    else process.env.EBPF_LIBBPF = saved;
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const binary = path.join(dest, FILE);
  const record = {
    file: FILE,
    sourceHash: hash,
    sha256: sha256(fs.readFileSync(binary)),
    inputs,
    // For information only (not part of the hash): what built it.
    builtWith: {
      node: process.version,
      napi: process.versions.napi,
      compiler: execFileSync('c++', ['--version'], { encoding: 'utf8' }).split('\n')[0],
      glibc: process.report.getReport().header.glibcVersionRuntime,
    },
  };
  fs.writeFileSync(path.join(dest, RECORD), `${JSON.stringify(record, null, 2)}\n`);
  return binary;
}

module.exports = { check, sources, scratchCopy, FILE, RECORD, PLATFORM };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const problems = check(args[1] && path.resolve(args[1]));
    for (const p of problems) console.error(`prebuild check: ${p}`);
    if (problems.length === 0) console.log(`prebuild check: prebuilds/${PLATFORM}/${FILE} matches the sources`);
    process.exit(problems.length ? 1 : 0);
  } else if (args.length === 0 || (args[0] === '--out' && args[1])) {
    build(path.resolve(args[1] ?? root)).then(
      (binary) => console.log(`prebuild: ${path.relative(process.cwd(), binary)} (${fs.statSync(binary).size} bytes)`),
      (err) => {
        console.error(`prebuild: ${err.message}`);
        process.exit(1);
      },
    );
  } else {
    console.error('usage: node scripts/prebuild.js [--out DIR | --check [DIR]]');
    process.exit(2);
  }
}
