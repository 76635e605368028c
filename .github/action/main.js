// The step: install xbuild (download the release named by `version`, use
// xbuild-path, or build it from the action's source with the runner's Go),
// register qemu when a foreign platform
// is asked and emulation is missing, then hand over to `xbuild action run`,
// which reads the INPUT_* variables itself. No dependencies: plain Node.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const actionDir = path.resolve(__dirname, '..', '..');

function fail(msg) {
  process.stdout.write(`::error::${msg}\n`);
  process.exit(1);
}

async function install() {
  const given = (process.env['INPUT_XBUILD-PATH'] || '').trim();
  const version = (process.env.INPUT_VERSION || '').trim();
  if (given && version) fail('give either version or xbuild-path, not both');
  if (given) {
    if (!fs.existsSync(given)) fail(`xbuild-path ${given} does not exist`);
    return given;
  }
  const dir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'xbuild-'));
  if (version) return download(version, dir);
  const bin = path.join(dir, 'xbuild');
  const r = spawnSync('go', ['build', '-trimpath', '-o', bin, './cmd/xbuild'], { cwd: actionDir, stdio: 'inherit' });
  if (r.error || r.status !== 0) fail('building xbuild with the runner\'s Go failed (set up Go first, or give xbuild-path)');
  return bin;
}

// download fetches a release's binary for this runner (the assets
// `xbuild bake binaries` makes: xbuild-linux-ARCH and its .sha256) from the
// action's own repository, and checks it before it is run.
async function download(version, dir) {
  if (version !== 'latest' && !/^v?[0-9][0-9A-Za-z.+-]*$/.test(version)) fail(`version ${version} is not a release tag such as v0.3.0, nor latest`);
  const repo = process.env.GITHUB_ACTION_REPOSITORY;
  if (!repo) fail('version needs GITHUB_ACTION_REPOSITORY (the repository the action comes from) to find the release');
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch];
  if (process.platform !== 'linux' || !arch) fail(`no xbuild release for ${process.platform}/${process.arch}: use the runner's Go (leave version empty)`);
  const asset = `xbuild-linux-${arch}`;
  // GitHub serves the newest release's assets under releases/latest.
  const where = version === 'latest' ? 'latest/download' : `download/${version}`;
  const base = `${process.env.GITHUB_SERVER_URL || 'https://github.com'}/${repo}/releases/${where}/${asset}`;
  const get = async (url) => {
    let res;
    try {
      res = await fetch(url);
    } catch (e) {
      fail(`downloading ${url}: ${e.cause ? e.cause.message : e.message}`);
    }
    if (!res.ok) fail(`downloading ${url}: HTTP ${res.status} (is ${version} a release of ${repo}?)`);
    return Buffer.from(await res.arrayBuffer());
  };
  const [data, sums] = await Promise.all([get(base), get(base + '.sha256')]);
  const want = sums.toString().trim().split(/\s+/)[0];
  const got = crypto.createHash('sha256').update(data).digest('hex');
  if (want !== got) fail(`${asset} of ${version} does not match its .sha256 (got ${got}, want ${want}): not installed`);
  const bin = path.join(dir, 'xbuild');
  fs.writeFileSync(bin, data, { mode: 0o755 });
  process.stdout.write(`installed xbuild ${version} (${asset}, sha256 ${got})\n`);
  return bin;
}

// qemu is needed when a platform of another architecture is asked and no
// binfmt handler for it is registered.
function ensureEmulation() {
  const arch = { x64: 'amd64', arm64: 'arm64' }[process.arch] || process.arch;
  const plats = (process.env.INPUT_PLATFORMS || '').split(/[\n,]/).map(s => s.trim()).filter(Boolean);
  const qemu = { arm64: 'aarch64', amd64: 'x86_64', riscv64: 'riscv64', ppc64le: 'ppc64le', s390x: 's390x', arm: 'arm' };
  for (const p of plats) {
    const a = p.split('/')[1];
    if (!a || a === arch || !qemu[a]) continue;
    const handler = `/proc/sys/fs/binfmt_misc/qemu-${qemu[a]}`;
    if (fs.existsSync(handler)) continue;
    process.stdout.write(`registering qemu for ${p}\n`);
    try {
      execFileSync('sudo', ['-n', 'update-binfmts', '--enable', `qemu-${qemu[a]}`], { stdio: 'inherit' });
    } catch (e) {
      process.stdout.write(`::warning::no emulation for ${p}: install qemu-user-static and binfmt-support on the runner\n`);
    }
  }
}

async function main() {
  const bin = await install();
  fs.appendFileSync(process.env.GITHUB_STATE, `xbuild=${bin}\n`);
  ensureEmulation();
  // The bake files and every path in them are relative to the folder the
  // source (or workdir) input names, as bake-action runs bake there.
  const source = (process.env.INPUT_SOURCE || process.env.INPUT_WORKDIR || '').trim();
  const r = spawnSync(bin, ['action', 'run'], {
    stdio: 'inherit',
    cwd: source && source !== '.' ? path.resolve(source) : undefined,
    env: { ...process.env, GITHUB_ACTIONS: 'true', XBUILD_ACTION_DIR: actionDir },
  });
  process.exit(r.status === null ? 1 : r.status);
}

main();
