// The step: install xbuild (build it from the action's source with the
// runner's Go, or use xbuild-path), register qemu when a foreign platform
// is asked and emulation is missing, then hand over to `xbuild action run`,
// which reads the INPUT_* variables itself. No dependencies: plain Node.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const actionDir = path.resolve(__dirname, '..', '..');

function fail(msg) {
  process.stdout.write(`::error::${msg}\n`);
  process.exit(1);
}

function install() {
  const given = (process.env['INPUT_XBUILD-PATH'] || '').trim();
  if (given) {
    if (!fs.existsSync(given)) fail(`xbuild-path ${given} does not exist`);
    return given;
  }
  const dir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'xbuild-'));
  const bin = path.join(dir, 'xbuild');
  const r = spawnSync('go', ['build', '-trimpath', '-o', bin, './cmd/xbuild'], { cwd: actionDir, stdio: 'inherit' });
  if (r.error || r.status !== 0) fail('building xbuild with the runner\'s Go failed (set up Go first, or give xbuild-path)');
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

const bin = install();
fs.appendFileSync(process.env.GITHUB_STATE, `xbuild=${bin}\n`);
ensureEmulation();
const r = spawnSync(bin, ['action', 'run'], {
  stdio: 'inherit',
  env: { ...process.env, GITHUB_ACTIONS: 'true', XBUILD_ACTION_DIR: actionDir },
});
process.exit(r.status === null ? 1 : r.status);
