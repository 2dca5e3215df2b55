/**
 * Reading THEANORC files safely (issue 13 items 8 and 12): a named file that is not a regular
 * file, or is huge, is a ConfigError naming it (never an endless read of /dev/zero or a block on
 * a FIFO); a default ~/.theanorc that cannot be read (an unreadable HOME) is skipped, while a
 * file the user named in THEANORC that cannot be read stays an error.
 *
 * The cases that could hang run in a child process with a timeout, so a regression fails the
 * test instead of freezing the run. The unreadable-HOME case runs the child as uid 65534
 * (nobody) when the tests run as root, since root reads every file whatever its mode.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { MAX_RC_BYTES, createConfig } from "../../src/config/config.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "theano-ts-rc-"));
  dirs.push(d);
  return d;
}

const PRINT = "import('./src/config/index.ts').then(m => console.log('floatX', m.config.floatX), e => { console.log(e.name + ': ' + e.message); process.exitCode = 1; })";

/** Imports the config in a child with `env` on top of a clean environment; at most 20 s. */
function importWith(env: Record<string, string | undefined>, as?: { uid: number; gid: number }) {
  const full: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, THEANO_FLAGS: "", ...env })) if (v !== undefined) full[k] = v;
  if (env.THEANORC === undefined) delete full.THEANORC;
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", PRINT], { cwd: ROOT, env: full, encoding: "utf8", timeout: 20_000, ...as });
  return { ...r, ms: Date.now() - started };
}

describe("issue 13.8: THEANORC names a huge or non-regular file", () => {
  it("issue 13.8: THEANORC=/dev/zero is a ConfigError naming it, at once", () => {
    const r = importWith({ THEANORC: "/dev/zero" });
    expect(r.signal).toBe(null); // not killed by the timeout
    expect(r.stdout).toMatch(/ConfigError: .*\/dev\/zero.*not a regular file/);
    expect(r.status).toBe(1);
    expect(r.ms).toBeLessThan(15_000);
  }, 30_000);

  it("issue 13.8: a FIFO (which would block the open) and a directory are refused by name", () => {
    const d = tempDir();
    const fifo = join(d, "rc.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const r = importWith({ THEANORC: fifo });
    expect(r.signal).toBe(null);
    expect(r.stdout).toContain(`ConfigError: config file ${fifo} is not a regular file (a FIFO)`);
    const e = (() => {
      try {
        createConfig({ env: { THEANORC: d } });
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain(`${d} is not a regular file (a directory)`);
  }, 30_000);

  it("issue 13.8: a regular file above the size cap is refused without reading it", () => {
    const big = join(tempDir(), "huge.rc");
    writeFileSync(big, "[global]\nfloatX=float32\n");
    truncateSync(big, 64 * MAX_RC_BYTES); // sparse: costs no disk
    expect(() => createConfig({ env: { THEANORC: big } })).toThrow(ConfigError);
    expect(() => createConfig({ env: { THEANORC: big } })).toThrow(new RegExp(`${big} is ${64 * MAX_RC_BYTES} bytes.*at most ${MAX_RC_BYTES}`));
    // A normal file still loads.
    const ok = join(tempDir(), "ok.rc");
    writeFileSync(ok, "[global]\nfloatX=float32\n");
    expect(createConfig({ env: { THEANORC: ok } }).floatX).toBe("float32");
  });
});

describe("issue 13.12: an unreadable HOME", () => {
  const root = typeof process.getuid === "function" && process.getuid() === 0;

  it("issue 13.12: an unreadable default ~/.theanorc is skipped; an unreadable named file is an error", () => {
    const eacces = (p: string): never => {
      throw new ConfigError(`cannot read config file ${p}: EACCES: permission denied`, { cause: Object.assign(new Error("EACCES"), { code: "EACCES" }) });
    };
    // The default file: not an error.
    expect(createConfig({ env: { HOME: "/home/u" }, readFile: eacces }).floatX).toBe("float64");
    // A file the user named: an error naming it.
    expect(() => createConfig({ env: { HOME: "/home/u", THEANORC: "/home/u/.theanorc" }, readFile: eacces })).toThrow(/cannot read config file \/home\/u\/.theanorc: EACCES/);
  });

  it("issue 13.12: importing with HOME in a directory this user cannot read works (a real process)", () => {
    if (!root) {
      // Not root: an unreadable directory of our own is an unreadable HOME.
      const home = join(tempDir(), "home");
      spawnSync("mkdir", ["-m", "000", home]);
      const r = importWith({ HOME: home, THEANORC: undefined });
      expect(r.stdout.trim()).toBe("floatX float64");
      chmodSync(home, 0o700);
      return;
    }
    // Root reads everything: run the child as nobody, with root's private home.
    const home = join(tempDir(), "home");
    spawnSync("mkdir", ["-m", "700", home]);
    writeFileSync(join(home, ".theanorc"), "[global]\nfloatX=float32\n");
    const r = importWith({ HOME: home, THEANORC: undefined }, { uid: 65534, gid: 65534 });
    expect(r.stdout.trim()).toBe("floatX float64");
    expect(r.status).toBe(0);
    const named = importWith({ HOME: home, THEANORC: join(home, ".theanorc") }, { uid: 65534, gid: 65534 });
    expect(named.stdout).toMatch(/ConfigError: cannot read config file .*\.theanorc: EACCES/);
  }, 60_000);
});
