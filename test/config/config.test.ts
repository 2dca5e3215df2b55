/**
 * The configuration system (src/config, API.md §9): schema defaults, the THEANORC and
 * THEANO_FLAGS parsers, precedence, validation with "did you mean", the config object's
 * assignment rules, scoped `change`, the listing and the cache key. Almost every test builds its
 * own config with `createConfig` from a given env and in-memory files, so nothing here depends on
 * the machine's ~/.theanorc or THEANO_FLAGS; the subprocess tests check the real start-up path.
 */

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, TheanoError } from "../../src/errors.js";
import {
  FLAG_NAMES,
  SCHEMA,
  config,
  configCacheKey,
  createConfig,
  describeFlag,
  flagSource,
  formatSource,
  parseFlagsString,
  parseRc,
  type Config,
  type ConfigOptions,
  type FlagName,
} from "../../src/config/index.js";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A config from THEANO_FLAGS and in-memory rc files; no real file or PATH is consulted. */
function make(flags?: string, files: Record<string, string> = {}, extra: ConfigOptions = {}): Config {
  const env: Record<string, string> = { HOME: "/home/u", PATH: "" };
  if (flags !== undefined) env.THEANO_FLAGS = flags;
  if (Object.keys(files).length > 0) env.THEANORC = Object.keys(files).join(":");
  return createConfig({
    env: { ...env, ...extra.env },
    readFile: (p) => files[p] ?? null,
    platformTag: "linux-x64-node20",
    isExecutable: () => false,
    ...extra,
  });
}

/** The ConfigError a call throws (fails the test if it throws nothing or something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toBeInstanceOf(TheanoError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("schema", () => {
  it("every default is a valid value of its own flag", () => {
    const cfg = make();
    for (const name of FLAG_NAMES) {
      const spec = SCHEMA[name];
      expect(spec.doc.length, name).toBeGreaterThan(10);
      expect(spec.check(cfg.get(name)), name).toBe(cfg.get(name));
      if (spec.values) expect(spec.values, name).toContain(cfg.get(name));
    }
  });

  it("declares the flags of API.md §9 with Theano's spelling", () => {
    for (const n of [
      "device", "floatX", "mode", "optimizer", "optimizer_verbose", "optimizer_excluding",
      "optimizer_including", "exception_verbosity", "profile", "profile_memory", "lib.cnmem",
      "init_gpu_device", "compiledir", "base_compiledir", "cxx", "warn_float64", "on_opt_error",
      "compute_test_value", "linker", "blas.ldflags", "openmp", "traceback.limit", "allow_gc",
      "gcc.cxxflags", "gpuarray.preallocate", "contexts", "NanGuardMode.nan_is_error",
    ]) expect(FLAG_NAMES, n).toContain(n);
  });

  it("puts code-changing flags in the cache key and diagnostics out of it", () => {
    for (const n of ["floatX", "cxx", "gcc.cxxflags", "openmp", "blas.ldflags", "cmodule.sanitize"] as const)
      expect(SCHEMA[n].inCacheKey, n).toBe(true);
    for (const n of ["profile", "optimizer_verbose", "exception_verbosity", "compiledir", "lib.cnmem"] as const)
      expect(SCHEMA[n].inCacheKey, n).toBe(false);
  });

  it("describeFlag gives type, allowed values, default and doc", () => {
    const d = describeFlag("floatX");
    expect(d).toContain("float32, float64");
    expect(d).toContain("default \"float64\"");
    expect(d).toContain(SCHEMA.floatX.doc);
    expect(describeFlag("compiledir")).toContain("<base_compiledir>/compiledir_");
    expect(configError(() => describeFlag("floatx" as FlagName)).message).toContain("did you mean floatX?");
  });
});

describe("defaults", () => {
  it("are Theano's", () => {
    const c = make();
    expect(c.device).toBe("cpu");
    expect(c.floatX).toBe("float64");
    expect(c.mode).toBe("FAST_RUN");
    expect(c.linker).toBe("auto");
    expect(c.optimizer).toBe("fast_run");
    expect(c.optimizer_verbose).toBe(false);
    expect(c.exception_verbosity).toBe("low");
    expect(c.lib.cnmem).toBe(0);
    expect(c.openmp).toBe(true);
    expect(c.openmp_elemwise_minsize).toBe(65536); // Theano: 200000; see src/config/schema.ts
    expect(c.traceback.limit).toBe(8);
    expect(c.allow_gc).toBe(true);
    expect(c.cmodule.age_thresh_use).toBe(24 * 24 * 3600);
    expect(c.NanGuardMode.big_is_error).toBe(true);
    expect(c.gpuarray.allow_tf32).toBe(false);
    for (const n of FLAG_NAMES) expect(c.sourceOf(n)).toEqual({ kind: "default" });
  });

  it("compiledir lives under base_compiledir and follows it", () => {
    const c = make();
    expect(c.base_compiledir).toBe("/home/u/.theano-ts");
    expect(c.compiledir).toBe("/home/u/.theano-ts/compiledir_linux-x64-node20");
    expect(make("base_compiledir=/scratch/tt").compiledir).toBe("/scratch/tt/compiledir_linux-x64-node20");
    expect(make("base_compiledir=~/cache").compiledir).toBe("/home/u/cache/compiledir_linux-x64-node20");
    expect(make("base_compiledir=/b,compiledir=/c").compiledir).toBe("/c");
    c.change({ base_compiledir: "/tmp/x" }, () => expect(c.compiledir).toBe("/tmp/x/compiledir_linux-x64-node20"));
  });

  it("cxx is the first of cc, gcc, clang on PATH, found lazily without spawning", () => {
    const probed: string[] = [];
    const isExecutable = (p: string) => {
      probed.push(p);
      return p === "/b/gcc" || p === "/a/clang";
    };
    const c = make(undefined, {}, { env: { PATH: "/a:/b" }, isExecutable });
    expect(probed).toEqual([]); // nothing scanned at load
    expect(c.cxx).toBe("/b/gcc");
    const n = probed.length;
    expect(c.cxx).toBe("/b/gcc");
    expect(probed.length).toBe(n); // memoised
    expect(make().cxx).toBe(""); // empty PATH: no C compiler
    expect(make("cxx=").cxx).toBe("");
    expect(make("cxx=clang-18").cxx).toBe("clang-18");
  });
});

describe("THEANO_FLAGS", () => {
  it("parses name=value items, sec__key, quotes and stray commas", () => {
    expect(parseFlagsString(' floatX = float32 ,lib__cnmem=0.5,,gcc.cxxflags="-O2 -Wl,-rpath,/x", ')).toEqual([
      { name: "floatX", value: "float32" },
      { name: "lib.cnmem", value: "0.5" },
      { name: "gcc.cxxflags", value: "-O2 -Wl,-rpath,/x" },
    ]);
    expect(parseFlagsString("")).toEqual([]);
    expect(configError(() => parseFlagsString("floatX")).message).toContain('"floatX" has no value');
    expect(configError(() => parseFlagsString("=3")).message).toContain("no flag name");
    expect(configError(() => parseFlagsString('blas.ldflags="-lblas')).message).toContain("unclosed");
  });

  it("sets dotted and __ flags", () => {
    const c = make("floatX=float32,lib.cnmem=0.8,blas__ldflags=-lopenblas,traceback__limit=-1,device=cuda1");
    expect([c.floatX, c.lib.cnmem, c.blas.ldflags, c.traceback.limit, c.device]).toEqual([
      "float32", 0.8, "-lopenblas", -1, "cuda1",
    ]);
    expect(c.sourceOf("lib.cnmem")).toEqual({ kind: "THEANO_FLAGS" });
    expect(flagSource("floatX", c)).toEqual({ kind: "THEANO_FLAGS" });
  });

  it("accepts True/False/true/false/1/0/yes/no for booleans", () => {
    for (const [t, v] of [["True", true], ["true", true], ["1", true], ["yes", true], ["YES", true],
      ["False", false], ["false", false], ["0", false], ["no", false]] as const) {
      expect(make(`profile=${t}`).profile, t).toBe(v);
      expect(make(`openmp=${t}`).openmp, t).toBe(v);
    }
  });

  it("a later assignment of the same flag wins", () => {
    expect(make("floatX=float32,floatX=float64").floatX).toBe("float64");
  });
});

describe("THEANORC", () => {
  const RC = [
    "# a comment",
    "; another",
    "[global]",
    "floatX = float32   # inline comment",
    "device: cuda0",
    "optimizer_excluding = fusion:inplace",
    "",
    "[lib]",
    "cnmem = 0.25",
    "[blas]",
    "ldflags = '-lopenblas -lpthread'",
    "[NanGuardMode]",
    "big_is_error = False",
  ].join("\r\n");

  it("parses sections, comments, both delimiters and quotes", () => {
    expect(parseRc(RC, "/rc")).toEqual([
      { name: "floatX", value: "float32", line: 4 },
      { name: "device", value: "cuda0", line: 5 },
      { name: "optimizer_excluding", value: "fusion:inplace", line: 6 },
      { name: "lib.cnmem", value: "0.25", line: 9 },
      { name: "blas.ldflags", value: "-lopenblas -lpthread", line: 11 },
      { name: "NanGuardMode.big_is_error", value: "False", line: 13 },
    ]);
  });

  it("rejects malformed lines, naming the file and line", () => {
    expect(configError(() => parseRc("floatX = float32", "/rc")).message).toMatch(/\/rc line 1: .*\[global\]/);
    expect(configError(() => parseRc("[global]\nfloatX float32", "/rc")).message).toContain("/rc line 2");
    expect(configError(() => parseRc("[]\n", "/rc")).message).toContain("empty section");
    expect(configError(() => parseRc("[global]\n= 3", "/rc")).message).toContain("no flag name");
  });

  it("loads the files THEANORC lists, a later file winning", () => {
    const c = make(undefined, { "/etc/rc": RC, "/home/u/my.rc": "[lib]\ncnmem=0.5\n" });
    expect([c.floatX, c.device, c.lib.cnmem, c.blas.ldflags, c.NanGuardMode.big_is_error]).toEqual([
      "float32", "cuda0", 0.5, "-lopenblas -lpthread", false,
    ]);
    expect(c.sourceOf("floatX")).toEqual({ kind: "THEANORC", path: "/etc/rc", line: 4 });
    expect(formatSource(c.sourceOf("lib.cnmem"))).toBe("/home/u/my.rc line 2");
  });

  it("reads ~/.theanorc by default and expands ~ in THEANORC", () => {
    const files = { "/home/u/.theanorc": "[global]\nfloatX=float32\n", "/home/u/x.rc": "[global]\nmode=FAST_COMPILE" };
    const opts = { readFile: (p: string) => files[p as keyof typeof files] ?? null };
    expect(createConfig({ env: { HOME: "/home/u" }, ...opts }).floatX).toBe("float32");
    expect(createConfig({ env: { HOME: "/home/u", THEANORC: "~/x.rc" }, ...opts }).mode).toBe("FAST_COMPILE");
    expect(createConfig({ env: { HOME: "/home/u", THEANORC: "" }, ...opts }).floatX).toBe("float64");
    // A missing default file is fine; a missing named one is an error naming it.
    expect(createConfig({ env: { HOME: "/nobody" }, ...opts }).floatX).toBe("float64");
    const e = configError(() => createConfig({ env: { HOME: "/home/u", THEANORC: "/home/u/x.rc:/etc/nope" }, ...opts }));
    expect(e.message).toContain("/etc/nope");
  });

  it("THEANO_FLAGS beat THEANORC, which beats the defaults; code beats both", () => {
    const c = make("lib.cnmem=0.8", { "/rc": "[global]\nfloatX=float32\n[lib]\ncnmem=0.3\n" });
    expect(c.floatX).toBe("float32");
    expect(c.lib.cnmem).toBe(0.8);
    expect(c.device).toBe("cpu");
    expect(c.sourceOf("lib.cnmem")).toEqual({ kind: "THEANO_FLAGS" });
    c.lib.cnmem = 0.1;
    expect(c.lib.cnmem).toBe(0.1);
    expect(c.sourceOf("lib.cnmem")).toEqual({ kind: "code" });
  });

  it("bad names and values in a file name the file and line", () => {
    const e1 = configError(() => make(undefined, { "/rc": "[global]\n\nfloatx = float32\n" }));
    expect(e1.message).toContain("/rc line 3");
    expect(e1.message).toContain("did you mean floatX?");
    const e2 = configError(() => make(undefined, { "/rc": "[lib]\ncnmem = lots\n" }));
    expect(e2.message).toContain("lib.cnmem");
    expect(e2.message).toContain("/rc line 2");
    expect(e2.message).toContain("a number >= 0");
    const e3 = configError(() => make(undefined, { "/rc": "[libs]\ncnmem = 1\n" }));
    expect(e3.message).toContain("did you mean lib.cnmem?");
  });
});

describe("did you mean", () => {
  const cases: Array<[string, string | undefined]> = [
    ["floatx", "floatX"],
    ["FLOATX", "floatX"],
    ["flaotX", "floatX"],
    ["optimiser", "optimizer"],
    ["exception_verbose", "exception_verbosity"],
    ["cnmem", "lib.cnmem"],
    ["lib__cnmen", "lib.cnmem"],
    ["blas.ldflag", "blas.ldflags"],
    ["gcc__cxxflag", "gcc.cxxflags"],
    ["zzzzqqqq", undefined],
  ];
  for (const [name, guess] of cases) {
    it(`${name} -> ${guess ?? "no suggestion"}`, () => {
      const msg = configError(() => make(`${name}=1`)).message;
      expect(msg).toContain("unknown flag");
      expect(msg).toContain("THEANO_FLAGS");
      expect(msg).toContain("Valid flags: device, init_gpu_device");
      if (guess) expect(msg).toContain(`did you mean ${guess}?`);
      else expect(msg).not.toContain("did you mean");
    });
  }
});

describe("bad values", () => {
  const cases: Array<[string, string]> = [
    ["floatX", "float16"],
    ["floatX", "float"],
    ["device", "gpu"],
    ["device", "cuda01"],
    ["device", "opencl0"],
    ["init_gpu_device", "cpu"],
    ["contexts", "dev0->cpu"],
    ["contexts", "dev0->cuda0;dev0->cuda1"],
    ["contexts", "cuda1->cuda0"],
    ["contexts", "dev0=cuda0"],
    ["mode", "fast_run"],
    ["mode", "DEBUG"],
    ["linker", "cvm"],
    ["optimizer", "o5"],
    ["optimizer_excluding", "a::b"],
    ["optimizer_including", "a b"],
    ["on_opt_error", "pdb"],
    ["exception_verbosity", "medium"],
    ["compute_test_value", "on"],
    ["warn_float64", "pdb"],
    ["deterministic", "less"],
    ["profile", "maybe"],
    ["allow_gc", ""],
    ["lib.cnmem", "-1"],
    ["lib.cnmem", "abc"],
    ["lib.cnmem", "inf"],
    ["gpuarray.preallocate", "-0.5"],
    ["traceback.limit", "1.5"],
    ["traceback.limit", "-2"],
    ["openmp_elemwise_minsize", "-1"],
    ["cmodule.age_thresh_use", "1e3"],
  ];
  for (const [flag, value] of cases) {
    it(`${flag}=${value}`, () => {
      const msg = configError(() => make(`${flag}=${value}`)).message;
      expect(msg).toContain(`flag ${flag} `);
      expect(msg).toContain("THEANO_FLAGS");
      expect(msg).toContain(SCHEMA[flag as FlagName].allowed);
    });
  }

  it("suggests a case or one-letter fix of an enum value, not a different value", () => {
    expect(configError(() => make("mode=fast_run")).message).toContain("did you mean FAST_RUN?");
    expect(configError(() => make("mode=DEBUG_MODE")).message).toContain("did you mean DebugMode?");
    expect(configError(() => make("floatX=float16")).message).not.toContain("did you mean");
  });

  it("accepts the valid spellings", () => {
    const c = make(
      "device=cuda,init_gpu_device=cuda12,contexts=dev0->cuda0;dev1->cuda1,lib.cnmem=1024," +
        "optimizer=None,optimizer_excluding=fusion:local_add_canonizer,traceback.limit=0,gpuarray.preallocate=.5",
    );
    expect([c.device, c.init_gpu_device, c.contexts, c.lib.cnmem, c.optimizer]).toEqual([
      "cuda", "cuda12", "dev0->cuda0;dev1->cuda1", 1024, "None",
    ]);
    expect(c.gpuarray.preallocate).toBe(0.5);
  });
});

describe("the config object", () => {
  it("reads and writes flags and sections, validating writes", () => {
    const c = make();
    c.floatX = "float32";
    c.lib.cnmem = 0.5;
    c.gcc.cxxflags = "-O2";
    c.set("blas.ldflags", "-lblis");
    expect([c.floatX, c.lib.cnmem, c.gcc.cxxflags, c.get("blas.ldflags")]).toEqual(["float32", 0.5, "-O2", "-lblis"]);
    expect(c.sourceOf("floatX")).toEqual({ kind: "code" });
    const e = configError(() => {
      c.floatX = "float16" as "float32";
    });
    expect(e.message).toContain("floatX");
    expect(e.message).toContain("set in code");
    expect(e.message).toContain("one of float32, float64");
    expect(c.floatX).toBe("float32"); // unchanged by the rejected write
    // Code must give the flag's own type: text conversion is for rc files and THEANO_FLAGS.
    configError(() => Object.assign(c, { profile: "True" }));
    configError(() => Object.assign(c.lib, { cnmem: "0.5" }));
    configError(() => Object.assign(c, { openmp_elemwise_minsize: 1.5 }));
    configError(() => Object.assign(c.lib, { cnmem: Number.NaN }));
    c.base_compiledir = "~/tt";
    expect(c.base_compiledir).toBe("/home/u/tt");
  });

  it("rejects unknown properties, section and method writes, with a suggestion", () => {
    const c = make();
    const loose = c as unknown as Record<string, unknown>;
    const e = configError(() => {
      loose.floatx = "float32";
    });
    expect(e.message).toContain("did you mean floatX?");
    expect(loose.floatx).toBeUndefined();
    expect(configError(() => Object.assign(c.lib, { cnmen: 1 })).message).toContain("did you mean lib.cnmem?");
    expect(configError(() => Object.assign(c, { lib: 1 })).message).toContain("lib is a section");
    expect(configError(() => Object.assign(c, { change: 1 })).message).toContain("method");
    configError(() => Object.defineProperty(c, "newFlag", { value: 1 }));
    configError(() => delete loose.floatX);
    configError(() => c.set("floatx" as FlagName, "float32" as never));
    // The full name on the root is a flag too (not a new property).
    loose["lib.cnmem"] = 0.75;
    expect(c.lib.cnmem).toBe(0.75);
  });

  it("enumerates its flags and sections, and serialises as nested JSON", () => {
    const c = make();
    expect(Object.keys(c)).toContain("floatX");
    expect(Object.keys(c)).toContain("lib");
    expect(Object.keys(c)).not.toContain("change");
    expect(JSON.parse(JSON.stringify(c)).lib).toEqual({ cnmem: 0, host_reuse_mb: -1 });
  });
});

describe("change", () => {
  it("overrides for the call and restores value and source", () => {
    const c = make("floatX=float32");
    const r = c.change({ floatX: "float64", "lib.cnmem": 0.5 }, () => {
      expect(c.floatX).toBe("float64");
      expect(c.lib.cnmem).toBe(0.5);
      c.change({ floatX: "float32" }, () => expect(c.floatX).toBe("float32"));
      expect(c.floatX).toBe("float64");
      return 42;
    });
    expect(r).toBe(42);
    expect(c.floatX).toBe("float32");
    expect(c.sourceOf("floatX")).toEqual({ kind: "THEANO_FLAGS" });
    expect(c.lib.cnmem).toBe(0);
    expect(c.sourceOf("lib.cnmem")).toEqual({ kind: "default" });
  });

  it("restores when fn throws", () => {
    const c = make();
    expect(() =>
      c.change({ profile: true }, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(c.profile).toBe(false);
  });

  it("validates every override before applying any", () => {
    const c = make();
    let ran = false;
    const e = configError(() => c.change({ floatX: "float32", device: "tpu" as "cpu" }, () => (ran = true)));
    expect(e.message).toContain("device");
    expect(ran).toBe(false);
    expect(c.floatX).toBe("float64");
    expect(configError(() => c.change({ floatx: "float32" } as never, () => 0)).message).toContain("did you mean floatX?");
  });

  it("keeps the override until a returned promise settles", async () => {
    const c = make();
    const p = c.change({ floatX: "float32" }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return c.floatX;
    });
    expect(c.floatX).toBe("float32");
    expect(await p).toBe("float32");
    expect(c.floatX).toBe("float64");
    const q = c.change({ floatX: "float32" }, async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error("late");
    });
    await expect(q).rejects.toThrow("late");
    expect(c.floatX).toBe("float64");
  });
});

describe("listing and cache key", () => {
  it("String(config) lists every flag with value, source and doc", () => {
    const c = make("floatX=float32", { "/rc": "[global]\nmode=FAST_COMPILE\n" });
    c.profile = true;
    const s = String(c);
    for (const n of FLAG_NAMES) {
      expect(s).toContain(`\n${n} = `);
      expect(s).toContain(SCHEMA[n].doc);
    }
    expect(s).toContain("floatX = float32 [THEANO_FLAGS]");
    expect(s).toContain("mode = FAST_COMPILE [/rc line 2]");
    expect(s).toContain("profile = True [set in code]");
    expect(s).toContain("device = cpu [default]");
  });

  it("configCacheKey is stable JSON of exactly the cache-key flags", () => {
    const c = make();
    const key = JSON.parse(configCacheKey(c)) as Record<string, unknown>;
    expect(Object.keys(key)).toEqual(FLAG_NAMES.filter((n) => SCHEMA[n].inCacheKey).sort());
    expect(key.floatX).toBe("float64");
    expect(configCacheKey(c)).toBe(configCacheKey(make()));
    const before = c.cacheKey();
    c.change({ profile: true, optimizer_verbose: true, "lib.cnmem": 0.9 }, () => expect(c.cacheKey()).toBe(before));
    c.change({ floatX: "float32" }, () => expect(c.cacheKey()).not.toBe(before));
    c.change({ "gcc.cxxflags": "-O1" }, () => expect(c.cacheKey()).not.toBe(before));
  });
});

describe("the process-wide config", () => {
  it("is loaded at import and supports change", () => {
    expect(FLAG_NAMES).toContain("floatX");
    const prev = config.floatX;
    const other = prev === "float32" ? "float64" : "float32";
    config.change({ floatX: other }, () => expect(config.floatX).toBe(other));
    expect(config.floatX).toBe(prev);
    expect(typeof configCacheKey()).toBe("string");
  });

  /** Run node with tsx in the repo, without the developer's own rc file or flags. */
  function node(code: string, env: Record<string, string>) {
    return spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
      cwd: ROOT,
      env: { ...process.env, THEANORC: "", THEANO_FLAGS: "", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
  }
  const PRINT = "import('./src/config/index.ts').then(m => console.log(m.config.floatX, m.config.lib.cnmem))";

  it("reads THEANO_FLAGS at start-up", () => {
    const r = node(PRINT, { THEANO_FLAGS: "floatX=float32,lib.cnmem=0.8" });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("float32 0.8");
    expect(r.status).toBe(0);
  });

  it("fails at start-up on a misspelt flag, suggesting the right one", () => {
    const r = node(PRINT, { THEANO_FLAGS: "floatx=float32" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("ConfigError");
    expect(r.stderr).toContain("did you mean floatX?");
  });

  it("holds the defaults when there is no process (a browser)", () => {
    const code =
      "const p = globalThis.process; delete globalThis.process;" +
      "import('./src/config/index.ts').then(m => p.stdout.write(JSON.stringify([m.config.floatX, m.config.compiledir, m.config.cxx])))";
    const r = node(code, { THEANO_FLAGS: "floatX=float32" });
    expect(r.stdout).toBe('["float64","",""]');
  });
});
