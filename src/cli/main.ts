#!/usr/bin/env node
/**
 * The `theano-ts` command (API.md §12): `npx theano-ts <command> [args]`.
 *
 * Commands are rows of one table, so adding `check`, `cache`, `demo` or `bench` is one entry
 * (name, summary, usage, run) and `--help`, `help <command>` and the unknown-command message
 * pick it up. Like every user of the library, the CLI sees only the public API (`../index.js`)
 * and Node's builtins; that keeps it honest as a client and lets it run from the packed tarball.
 * The library is imported lazily (`library()`), because importing it loads the configuration:
 * a bad THEANO_FLAGS must not stop `--help`/`--version`, and a command that needs the library
 * reports the ConfigError as a message, not as a stack trace.
 *
 * Exit codes: 0 success, 1 the command failed (a TheanoError, reported without a stack),
 * 2 the command line itself was wrong (unknown command or option, wrong arguments).
 */

import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CACHE_DETAILS, CACHE_USAGE, parseCacheArgs, runCache } from "./cache.js";
import { CHECK_DETAILS, CHECK_USAGE, parseCheckArgs, runCheck } from "./check.js";
import { DEMO_DETAILS, DEMO_USAGE, parseDemoArgs, runDemo } from "./demo.js";

/** The public API, for commands that need it: `const theano = await library();`. */
export const library = (): Promise<typeof import("../index.js")> => import("../index.js");

/** Where a command writes; a parameter rather than `process.stdout` so tests can capture it. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** `out` is a terminal: progress may be redrawn in place with `\r` (else plain lines). */
  readonly tty?: boolean;
}

export interface Command {
  /** One line for the command list. */
  readonly summary: string;
  /** Arguments after the command name, e.g. "[command]". */
  readonly usage: string;
  /** Longer text for `theano-ts help <command>`; optional. */
  readonly details?: string;
  /** Returns the exit code. `args` excludes the command name. */
  run(args: readonly string[], io: CliIO): number | Promise<number>;
}

/** A mistake in the command line (exit code 2), as opposed to a failure of the work (exit 1). */
class UsageError extends Error {}

/** The package's own version, read from the package.json two levels above this file (dist/cli/ or src/cli/). */
export function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(url, "utf8")) as { name?: unknown; version?: unknown };
  if (pkg.name !== "theano-ts" || typeof pkg.version !== "string") {
    throw new Error(`${fileURLToPath(url)} is not theano-ts's package.json`);
  }
  return pkg.version;
}

function noArgs(name: string, args: readonly string[]): void {
  if (args.length > 0) throw new UsageError(`${name} takes no arguments, got ${args.join(" ")}`);
}

export const commands: Record<string, Command> = {
  help: {
    summary: "Show this help, or the help of one command",
    usage: "[command]",
    run(args, io) {
      if (args.length > 1) throw new UsageError(`help takes at most one command, got ${args.join(" ")}`);
      const name = args[0];
      if (name === undefined) io.out(globalHelp());
      else io.out(commandHelp(name, lookup(name)));
      return 0;
    },
  },
  demo: {
    summary: "Train an MLP or a LeNet CNN on the real MNIST digits end to end (the main job)",
    usage: DEMO_USAGE,
    details: DEMO_DETAILS,
    async run(args, io) {
      let opts;
      try {
        opts = parseDemoArgs(args);
      } catch (e) {
        throw new UsageError(`${(e as Error).message}\nUsage: theano-ts demo ${DEMO_USAGE} (see "theano-ts help demo")`);
      }
      return runDemo(await library(), opts, io);
    },
  },
  cache: {
    summary: "List, verify, clear or clean up the compile cache",
    usage: CACHE_USAGE,
    details: CACHE_DETAILS,
    async run(args, io) {
      const opts = parseCacheArgs(args);
      if (typeof opts === "string") throw new UsageError(opts);
      return runCache(await library(), opts, io.out);
    },
  },
  check: {
    summary: "Report the environment: C compiler, OpenMP, BLAS, CUDA, WebGPU, compile cache, flags",
    usage: CHECK_USAGE,
    details: CHECK_DETAILS,
    async run(args, io) {
      const opts = parseCheckArgs(args);
      if (typeof opts === "string") throw new UsageError(opts);
      return runCheck(await library(), opts, packageVersion(), io.out);
    },
  },
  version: {
    summary: "Print the version of theano-ts",
    usage: "",
    run(args, io) {
      noArgs("version", args);
      io.out(`${packageVersion()}\n`);
      return 0;
    },
  },
};

function lookup(name: string): Command {
  if (!Object.prototype.hasOwnProperty.call(commands, name)) {
    throw new UsageError(`unknown command "${name}"; the commands are: ${Object.keys(commands).join(", ")}`);
  }
  return commands[name]!;
}

function globalHelp(): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => `${n} ${commands[n]!.usage}`.trimEnd().length));
  const rows = names.map((n) => `  ${`${n} ${commands[n]!.usage}`.trimEnd().padEnd(width)}  ${commands[n]!.summary}`);
  return [
    `theano-ts ${packageVersion()}: Theano reborn for TypeScript`,
    "",
    "Usage: theano-ts <command> [args]",
    "",
    "Commands:",
    ...rows,
    "",
    "Options:",
    "  -h, --help     Show this help (after a command: that command's help)",
    "  -v, --version  Print the version",
    "",
    'Run "theano-ts help <command>" for the help of one command.',
    "",
  ].join("\n");
}

function commandHelp(name: string, cmd: Command): string {
  const lines = [`Usage: theano-ts ${`${name} ${cmd.usage}`.trimEnd()}`, "", cmd.summary];
  if (cmd.details) lines.push("", cmd.details);
  return lines.join("\n") + "\n";
}

/**
 * A TheanoError, recognised by its class chain rather than `instanceof`, so that an error thrown
 * while the library itself was loading (when there is no module to take the class from) counts.
 */
function isTheanoError(e: unknown): e is Error {
  for (let p = e instanceof Error ? Object.getPrototypeOf(e) : null; p !== null; p = Object.getPrototypeOf(p)) {
    if ((p as { constructor?: { name?: string } }).constructor?.name === "TheanoError") return true;
  }
  return false;
}

/** Runs one command line (without `node` and the script path) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO = defaultIO): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      io.err(globalHelp());
      return 2;
    }
    if (first === "-h" || first === "--help") return await commands.help!.run(rest, io);
    if (first === "-v" || first === "--version") return await commands.version!.run(rest, io);
    if (first.startsWith("-")) throw new UsageError(`unknown option "${first}"`);
    const cmd = lookup(first);
    // `theano-ts <command> --help` is the same as `theano-ts help <command>`.
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(commandHelp(first, cmd));
      return 0;
    }
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`theano-ts: ${e.message}\nRun "theano-ts --help" for usage.\n`);
      return 2;
    }
    // Errors the library raises on purpose carry a message meant for the user: no stack.
    if (isTheanoError(e)) {
      io.err(`theano-ts: ${e.name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

const defaultIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stdout.isTTY === true,
};

/**
 * True when this file is the program being run (not imported by a test). npm's bin entry is a
 * symlink (node_modules/.bin/theano-ts), so compare real paths, not the raw argv[1].
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // exitCode rather than process.exit(): let pending stdout writes flush (pipes are async).
  process.exitCode = await main(process.argv.slice(2));
}
