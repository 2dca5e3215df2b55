/**
 * `theano.config`: the flags of schema.ts, loaded from their sources, validated, scoped.
 *
 * Sources, weakest first (Theano's order): the schema's defaults; the THEANORC files (INI,
 * `[global]` for plain names and `[lib]`-style sections, read in order so a later file wins);
 * THEANO_FLAGS (`a=b,sec.key=v`, `sec__key=v`); then assignments in code. Everything is parsed
 * when this module is first imported, so an unknown flag or a bad value is a ConfigError at
 * start-up that names the flag, where it came from, what it accepts, and for a misspelt name
 * the nearest real one ("did you mean floatX?").
 *
 * The JS backend imports this module in browsers too, so there is no static import of a Node
 * built-in: fs/os/path are reached through `process.getBuiltinModule` (Node >= 20.16), and
 * without `process` the config holds the defaults. Tests build independent configs from given
 * env and files with `createConfig`.
 */

import { ConfigError } from "../errors.js";
import {
  FLAG_NAMES,
  Invalid,
  SCHEMA,
  describeSpec,
  isFlagName,
  nearest,
  showValue,
  specOf,
  type ConfigTree,
  type DefaultContext,
  type FlagName,
  type FlagValues,
} from "./schema.js";

/** Where a flag's current value came from. */
export type FlagSource =
  | { readonly kind: "default" }
  | { readonly kind: "THEANORC"; readonly path: string; readonly line: number }
  | { readonly kind: "THEANO_FLAGS" }
  | { readonly kind: "code" };

export function formatSource(s: FlagSource): string {
  switch (s.kind) {
    case "default":
      return "default";
    case "THEANORC":
      return `${s.path} line ${s.line}`;
    case "THEANO_FLAGS":
      return "THEANO_FLAGS";
    case "code":
      return "set in code";
  }
}

/** The config object: the flag tree plus a few methods (no flag shares their names). */
export interface Config extends ConfigTree {
  /** A flag's value by its full name (`"lib.cnmem"`). */
  get<N extends FlagName>(name: N): FlagValues[N];
  /** Set a flag by its full name; validated like `config.floatX = ...`. */
  set<N extends FlagName>(name: N, value: FlagValues[N]): void;
  /**
   * Run `fn` with some flags overridden, then restore them (also when `fn` throws). When `fn`
   * returns a promise the flags stay overridden until it settles, for everything that runs
   * meanwhile: overlapping async `change`s must not share flags.
   */
  change<R>(overrides: Partial<FlagValues>, fn: () => R): R;
  sourceOf(name: FlagName): FlagSource;
  /** Stable JSON of the flags that change generated code (see `configCacheKey`). */
  cacheKey(): string;
  /** Every flag: name, value, source and doc. */
  toString(): string;
}

export interface ConfigOptions {
  /** The environment (THEANO_FLAGS, THEANORC, HOME, PATH); default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Read a file's text; `null` when it does not exist; otherwise a ConfigError whose `cause` is
   * the Node error (its `code` EACCES/EPERM lets a default rc be skipped). Default: node:fs.
   */
  readFile?: (path: string) => string | null;
  /** Default: `env.HOME`, else the OS's home directory. */
  homeDir?: string;
  /** Default: `${process.platform}-${process.arch}-node${major}`. */
  platformTag?: string;
  /** For the PATH scan that finds `cxx`. Default: node:fs. */
  isExecutable?: (path: string) => boolean;
}

// ---------------------------------------------------------------------------------------------
// The host: Node built-ins when there are any, nothing otherwise.

const proc = (globalThis as { process?: NodeJS.Process }).process;
const nodeFs = proc?.getBuiltinModule?.("node:fs");
const nodeOs = proc?.getBuiltinModule?.("node:os");
const nodePath = proc?.getBuiltinModule?.("node:path");

/**
 * The largest rc file read. A THEANORC is a few hundred bytes; anything near this is not one,
 * and reading it whole (THEANORC=/dev/zero never ends) would stall the import.
 */
export const MAX_RC_BYTES = 1 << 20;

/** What a non-regular file is, for messages. */
function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a file";
}

/**
 * Reads an rc file: only a regular file of at most MAX_RC_BYTES, checked by stat before the
 * open (opening a FIFO would block) and again on the open descriptor (the path may have been
 * swapped in between), then read through that descriptor with the cap. Null when it does not
 * exist; any other problem is a ConfigError naming the file, its `cause` the Node error.
 */
function defaultReadFile(path: string): string | null {
  const fs = nodeFs;
  if (!fs) return null;
  const refuse = (st: Parameters<typeof fileKind>[0] & { isFile(): boolean; size: number }): void => {
    if (!st.isFile()) throw new ConfigError(`config file ${path} is not a regular file (${fileKind(st)}); THEANORC must name INI files`);
    if (st.size > MAX_RC_BYTES) {
      throw new ConfigError(`config file ${path} is ${st.size} bytes; an rc file may hold at most ${MAX_RC_BYTES} bytes (is THEANORC pointing at the right file?)`);
    }
  };
  let fd: number | null = null;
  try {
    refuse(fs.statSync(path));
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    const st = fs.fstatSync(fd);
    refuse(st);
    const buf = new Uint8Array(Math.min(st.size, MAX_RC_BYTES) + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = fs.readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_RC_BYTES) throw new ConfigError(`config file ${path} grew past ${MAX_RC_BYTES} bytes while being read`);
    return new TextDecoder().decode(buf.subarray(0, n));
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Errors that say a file cannot be read by this user, as opposed to a file that is bad. */
function isPermissionError(e: unknown): boolean {
  const code = (e as { cause?: { code?: string } }).cause?.code;
  return e instanceof ConfigError && (code === "EACCES" || code === "EPERM");
}

function defaultIsExecutable(path: string): boolean {
  if (!nodeFs) return false;
  try {
    nodeFs.accessSync(path, nodeFs.constants.X_OK);
    return nodeFs.statSync(path).isFile();
  } catch {
    return false;
  }
}

interface Host {
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string | null;
  isExecutable: (path: string) => boolean;
  homeDir: string | undefined;
  platformTag: string;
  win32: boolean;
}

function resolveHost(o: ConfigOptions): Host {
  const env = o.env ?? proc?.env ?? {};
  return {
    env,
    readFile: o.readFile ?? defaultReadFile,
    isExecutable: o.isExecutable ?? defaultIsExecutable,
    homeDir: o.homeDir ?? env.HOME ?? env.USERPROFILE ?? nodeOs?.homedir(),
    platformTag:
      o.platformTag ??
      (proc ? `${proc.platform}-${proc.arch}-node${proc.versions.node.split(".")[0]}` : "browser"),
    win32: proc?.platform === "win32",
  };
}

function joinPath(...parts: string[]): string {
  return nodePath ? nodePath.join(...parts) : parts.join("/").replace(/\/+/g, "/");
}

function expandHome(p: string, home: string | undefined): string {
  return home !== undefined && (p === "~" || p.startsWith("~/")) ? joinPath(home, p.slice(1)) : p;
}

// ---------------------------------------------------------------------------------------------
// Parsers of the two text sources. Both return assignments in order; the caller applies them,
// so a later assignment of the same flag wins.

export interface FlagAssignment {
  /** The flag name as written (after `sec__key` -> `sec.key`); not yet checked. */
  readonly name: string;
  readonly value: string;
  /** 1-based line in the rc file; absent for THEANO_FLAGS. */
  readonly line?: number;
}

/** Strip one pair of matching surrounding quotes. */
function unquote(s: string): string {
  return s.length >= 2 && (s[0] === '"' || s[0] === "'") && s.at(-1) === s[0] ? s.slice(1, -1) : s;
}

/**
 * THEANO_FLAGS: `name=value` items separated by commas. As in Theano (which splits with shlex)
 * quotes protect commas and are removed: `gcc.cxxflags="-Wl,-rpath,/opt/lib"`.
 */
export function parseFlagsString(str: string): FlagAssignment[] {
  const items: string[] = [];
  let cur = "";
  let quote: string | undefined;
  for (const ch of str) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ",") {
      items.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quote !== undefined) throw new ConfigError(`THEANO_FLAGS has an unclosed ${quote} quote: ${str}`);
  items.push(cur);
  const out: FlagAssignment[] = [];
  for (const raw of items) {
    const item = raw.trim();
    if (item === "") continue; // "a=1,,b=2" and a trailing comma are harmless
    const eq = item.indexOf("=");
    if (eq < 0) throw new ConfigError(`THEANO_FLAGS: "${item}" has no value; write name=value`);
    const name = item.slice(0, eq).trim().replaceAll("__", ".");
    if (name === "") throw new ConfigError(`THEANO_FLAGS: "${item}" has no flag name; write name=value`);
    out.push({ name, value: item.slice(eq + 1).trim() });
  }
  return out;
}

/**
 * A THEANORC file: INI as Python's ConfigParser reads it (`name = value` or `name: value`,
 * whole-line `#`/`;` comments, `[global]` for plain names, `[sec]` for `sec.name`), plus inline
 * comments after whitespace (`floatX = float32  # fast`) and quotes around a value.
 */
export function parseRc(text: string, path: string): FlagAssignment[] {
  const out: FlagAssignment[] = [];
  let section: string | undefined;
  const fail = (line: number, what: string): never => {
    throw new ConfigError(`${path} line ${line}: ${what}`);
  };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.replace(/\s[#;].*$/, "").trim();
    if (t === "" || t.startsWith("#") || t.startsWith(";")) return;
    const header = /^\[(.*)\]$/.exec(t);
    if (header) {
      section = header[1]!.trim();
      if (section === "") fail(line, "empty section name []");
      return;
    }
    const at = t.search(/[=:]/);
    if (at < 0) fail(line, `expected "name = value", got "${t}"`);
    const key = t.slice(0, at).trim();
    if (key === "") fail(line, `no flag name before "${t[at]}"`);
    if (section === undefined) fail(line, `"${key}" comes before any section; put it under [global]`);
    out.push({ name: section === "global" ? key : `${section}.${key}`, value: unquote(t.slice(at + 1).trim()), line });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Error messages.

function originPhrase(s: FlagSource): string {
  return s.kind === "code" ? "set in code" : s.kind === "default" ? "default" : `in ${formatSource(s)}`;
}

function unknownFlagError(name: string, source: FlagSource): ConfigError {
  const guess = nearest(name, FLAG_NAMES);
  return new ConfigError(
    `unknown flag "${name}" (${originPhrase(source)})${guess ? `; did you mean ${guess}?` : ""}` +
      ` Valid flags: ${FLAG_NAMES.join(", ")}`,
  );
}

function badValueError(name: FlagName, value: unknown, why: Invalid, source: FlagSource): ConfigError {
  const values = specOf(name).values;
  const guess = values && typeof value === "string" ? nearest(value.trim(), values, 1) : undefined;
  return new ConfigError(
    `bad value ${showValue(value)} for flag ${name} (${originPhrase(source)}): expected ${why.reason}` +
      (guess ? `; did you mean ${guess}?` : ""),
  );
}

// ---------------------------------------------------------------------------------------------
// The store: one slot per flag that is not at its default.

interface Slot {
  readonly value: unknown;
  readonly source: FlagSource;
}

const DEFAULT: FlagSource = { kind: "default" };

class FlagStore {
  private readonly slots = new Map<FlagName, Slot>();
  private readonly ctx: DefaultContext;

  constructor(private readonly host: Host) {
    const found = new Map<string, string | undefined>();
    const sep = host.win32 ? ";" : ":";
    this.ctx = {
      get: (name) => (isFlagName(name) ? this.get(name) : undefined),
      homeDir: host.homeDir,
      platformTag: host.platformTag,
      joinPath,
      // Memoised: a PATH scan per read of `cxx` would be wasteful, and PATH does not change.
      findExecutable: (names) => {
        const key = names.join("\0");
        if (!found.has(key)) {
          const dirs = (host.env.PATH ?? host.env.Path ?? "").split(sep).filter((d) => d !== "");
          const exe = (n: string) => (host.win32 ? [`${n}.exe`, n] : [n]);
          let hit: string | undefined;
          outer: for (const n of names)
            for (const d of dirs)
              for (const f of exe(n))
                if (host.isExecutable(joinPath(d, f))) {
                  hit = joinPath(d, f);
                  break outer;
                }
          found.set(key, hit);
        }
        return found.get(key);
      },
    };
  }

  get(name: FlagName): unknown {
    const slot = this.slots.get(name);
    if (slot) return slot.value;
    const d = SCHEMA[name].default;
    return typeof d === "function" ? (d as (ctx: DefaultContext) => unknown)(this.ctx) : d;
  }

  source(name: FlagName): FlagSource {
    return this.slots.get(name)?.source ?? DEFAULT;
  }

  /** A known name, or a ConfigError with the nearest one. */
  resolve(name: string, source: FlagSource): FlagName {
    if (isFlagName(name)) return name;
    throw unknownFlagError(name, source);
  }

  /** Check a value given in code (or converted from text) and return what would be stored. */
  validate(name: FlagName, value: unknown, source: FlagSource, shown: unknown = value): unknown {
    const spec = specOf(name);
    const v = spec.check(value);
    if (v instanceof Invalid) throw badValueError(name, shown, v, source);
    return spec.isPath && typeof v === "string" ? expandHome(v, this.host.homeDir) : v;
  }

  setText(a: FlagAssignment, source: FlagSource): void {
    const name = this.resolve(a.name, source);
    const candidate = specOf(name).fromText(a.value);
    if (candidate instanceof Invalid) throw badValueError(name, a.value, candidate, source);
    this.slots.set(name, { value: this.validate(name, candidate, source, a.value), source });
  }

  setChecked(name: FlagName, value: unknown, source: FlagSource): void {
    this.slots.set(name, { value, source });
  }

  snapshot(name: FlagName): Slot | undefined {
    return this.slots.get(name);
  }

  restore(name: FlagName, slot: Slot | undefined): void {
    if (slot) this.slots.set(name, slot);
    else this.slots.delete(name);
  }
}

function loadSources(store: FlagStore, host: Host): void {
  // THEANORC lists files like PATH does (Theano's os.pathsep); an explicitly named file must
  // exist, the default ~/.theanorc need not. THEANORC="" reads no file at all.
  const explicit = host.env.THEANORC !== undefined;
  const list = explicit ? host.env.THEANORC! : host.homeDir !== undefined ? "~/.theanorc" : "";
  for (const entry of list.split(host.win32 ? ";" : ":")) {
    if (entry.trim() === "") continue;
    const path = expandHome(entry.trim(), host.homeDir);
    let text: string | null;
    try {
      text = host.readFile(path);
    } catch (e) {
      // The default rc under a HOME this user may not read (a service account, a sandbox) is
      // as good as absent, as in Theano's ConfigParser.read; a file the user named is not.
      if (!explicit && isPermissionError(e)) continue;
      throw e;
    }
    if (text === null) {
      if (explicit) throw new ConfigError(`THEANORC names ${path}, which does not exist`);
      continue;
    }
    for (const a of parseRc(text, path)) store.setText(a, { kind: "THEANORC", path, line: a.line ?? 0 });
  }
  for (const a of parseFlagsString(host.env.THEANO_FLAGS ?? "")) store.setText(a, { kind: "THEANO_FLAGS" });
}

// ---------------------------------------------------------------------------------------------
// The facade: plain accessors for the flags (so util.inspect, Object.keys and JSON.stringify see
// them), behind a Proxy whose only job is to turn a write to an unknown name, which JS would
// silently accept, into a ConfigError with a suggestion.

const CODE: FlagSource = { kind: "code" };
const METHODS = new Set(["get", "set", "change", "sourceOf", "cacheKey", "toString"]);

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as { then?: unknown }).then === "function";
}

function guarded<T extends object>(store: FlagStore, target: T, prefix: string, sections: ReadonlySet<string>): T {
  const reject = (prop: string | symbol): never => {
    const full = prefix + String(prop);
    if (sections.has(full)) throw new ConfigError(`${full} is a section, not a flag: set its flags (config.${full}.name = value)`);
    if (prefix === "" && METHODS.has(String(prop))) throw new ConfigError(`config.${String(prop)} is a method, not a flag`);
    throw unknownFlagError(full, CODE);
  };
  return new Proxy(target, {
    set(t, prop, value, receiver) {
      const name = typeof prop === "string" ? prefix + prop : "";
      if (!isFlagName(name)) return reject(prop);
      if (Object.prototype.hasOwnProperty.call(t, prop)) return Reflect.set(t, prop, value, receiver);
      // config["lib.cnmem"] = x: a full name on the root, which JS would make a new property.
      store.setChecked(name, store.validate(name, value, CODE), CODE);
      return true;
    },
    defineProperty: (_t, prop) => reject(prop),
    deleteProperty: (_t, prop) => reject(prop),
  });
}

function flagAccessor(store: FlagStore, name: FlagName): PropertyDescriptor {
  return {
    enumerable: true,
    get: () => store.get(name),
    set: (v: unknown) => store.setChecked(name, store.validate(name, v, CODE), CODE),
  };
}

function render(store: FlagStore): string {
  const lines = [`theano-ts configuration (${FLAG_NAMES.length} flags: value [source], then doc)`];
  for (const name of FLAG_NAMES) {
    const v = store.get(name);
    const shown = typeof v === "boolean" ? (v ? "True" : "False") : v === "" ? "''" : String(v);
    lines.push(`${name} = ${shown} [${formatSource(store.source(name))}]`, `    ${specOf(name).doc}`);
  }
  return lines.join("\n");
}

function makeConfig(store: FlagStore): Config {
  const sectionNames = new Set(FLAG_NAMES.filter((n) => n.includes(".")).map((n) => n.slice(0, n.indexOf("."))));
  const root: Record<string, unknown> = {};
  for (const name of FLAG_NAMES) {
    const dot = name.indexOf(".");
    if (dot < 0) Object.defineProperty(root, name, flagAccessor(store, name));
  }
  for (const sec of sectionNames) {
    if (isFlagName(sec)) throw new Error(`schema bug: ${sec} is both a flag and a section`);
    const node: Record<string, unknown> = {};
    for (const name of FLAG_NAMES)
      if (name.startsWith(`${sec}.`)) Object.defineProperty(node, name.slice(sec.length + 1), flagAccessor(store, name));
    const view = guarded(store, node, `${sec}.`, sectionNames);
    Object.defineProperty(root, sec, { enumerable: true, get: () => view });
  }

  const methods: Omit<Config, keyof ConfigTree> = {
    get: <N extends FlagName>(name: N) => store.get(store.resolve(name, CODE)) as FlagValues[N],
    set: (name, value) => {
      const n = store.resolve(name, CODE);
      store.setChecked(n, store.validate(n, value, CODE), CODE);
    },
    change<R>(overrides: Partial<FlagValues>, fn: () => R): R {
      // Validate every override before applying any: a bad one leaves the config untouched.
      const checked = Object.entries(overrides).map(([k, v]) => {
        const n = store.resolve(k, CODE);
        return [n, store.validate(n, v, CODE)] as const;
      });
      const saved = checked.map(([n]) => [n, store.snapshot(n)] as const);
      for (const [n, v] of checked) store.setChecked(n, v, CODE);
      const restore = () => {
        for (const [n, slot] of saved) store.restore(n, slot);
      };
      let result: R;
      try {
        result = fn();
      } catch (e) {
        restore();
        throw e;
      }
      if (isThenable(result)) return Promise.resolve(result).finally(restore) as R;
      restore();
      return result;
    },
    sourceOf: (name) => store.source(store.resolve(name, CODE)),
    cacheKey: () => {
      const keyed = FLAG_NAMES.filter((n) => specOf(n).inCacheKey).sort();
      return JSON.stringify(Object.fromEntries(keyed.map((n) => [n, store.get(n)])));
    },
    toString: () => render(store),
  };
  for (const [k, fn] of Object.entries(methods)) Object.defineProperty(root, k, { value: fn });
  // console.log(config) prints the same listing as String(config), as Theano's print(config) did.
  Object.defineProperty(root, Symbol.for("nodejs.util.inspect.custom"), { value: () => render(store) });
  return guarded(store, root, "", sectionNames) as unknown as Config;
}

/** A config loaded from the given (default: this process's) environment and files. */
export function createConfig(options: ConfigOptions = {}): Config {
  const host = resolveHost(options);
  const store = new FlagStore(host);
  loadSources(store, host);
  return makeConfig(store);
}

/** The process-wide config, `theano.config`. Loading it is what raises bad-flag errors at start-up. */
export const config: Config = createConfig();

/** Stable JSON of every flag that changes generated code, for the compile cache key. */
export function configCacheKey(cfg: Config = config): string {
  return cfg.cacheKey();
}

export function flagSource(name: FlagName, cfg: Config = config): FlagSource {
  return cfg.sourceOf(name);
}

/** One line: type, accepted values, default, whether in the cache key, and the doc. */
export function describeFlag(name: FlagName): string {
  if (!isFlagName(name)) throw unknownFlagError(name, CODE);
  return describeSpec(name);
}
