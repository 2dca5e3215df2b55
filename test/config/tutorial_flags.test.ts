/**
 * The flags Theano's tutorial sets that theano-ts accepts before it acts on them (issue 12.4):
 * `print_test_value` and the `DebugMode.*` section. They parse from THEANO_FLAGS and rc files,
 * validate like every flag, and their docs say they have no effect yet.
 */

import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { FLAG_NAMES, SCHEMA, createConfig, describeFlag, type FlagName } from "../../src/config/index.js";

const make = (flags: string, files: Record<string, string> = {}) =>
  createConfig({
    env: { HOME: "/home/u", PATH: "", THEANO_FLAGS: flags, ...(Object.keys(files).length ? { THEANORC: Object.keys(files).join(":") } : {}) },
    readFile: (p) => files[p] ?? null,
    platformTag: "linux-x64-node20",
    isExecutable: () => false,
  });

const DEBUG_FLAGS = [
  "DebugMode.patience", "DebugMode.check_c", "DebugMode.check_py", "DebugMode.check_finite", "DebugMode.check_strides",
  "DebugMode.warn_only", "DebugMode.warn_input_not_reused", "DebugMode.check_preallocated_output", "DebugMode.check_preallocated_output_ndim",
] as const;

describe("issue 12.4: print_test_value and DebugMode.* flags", () => {
  it("exist with Theano's defaults and say they have no effect yet", () => {
    for (const n of [...DEBUG_FLAGS, "print_test_value"] as const) {
      expect(FLAG_NAMES).toContain(n);
      // DebugMode reads check_c and warn_only since issue 16.2; the rest are accepted only.
      // print_test_value: test values are computed since issue 16.3; debugprint does not print them yet.
      if (n === "print_test_value") expect(SCHEMA[n].doc).toMatch(/debugprint does not print test values yet/);
      else if (n !== "DebugMode.check_c" && n !== "DebugMode.warn_only") expect(SCHEMA[n as FlagName].doc).toMatch(/Accepted; no effect until DebugMode lands?/);
      expect(describeFlag(n as FlagName)).toContain(n);
    }
    const c = make("");
    expect(c.print_test_value).toBe(false);
    expect(c.DebugMode.check_py).toBe(true);
    expect(c.DebugMode.check_c).toBe(true);
    expect(c.DebugMode.patience).toBe(10);
    expect(c.DebugMode.check_strides).toBe(0);
    expect(c.DebugMode.check_preallocated_output).toBe("");
  });

  it("parse from THEANO_FLAGS and rc files as the tutorial writes them", () => {
    const c = make("print_test_value=True,DebugMode.check_py=False,DebugMode__patience=3,DebugMode.check_preallocated_output=initial:strided");
    expect(c.print_test_value).toBe(true);
    expect(c.DebugMode.check_py).toBe(false);
    expect(c.DebugMode.patience).toBe(3);
    expect(c.DebugMode.check_preallocated_output).toBe("initial:strided");
    const r = make("", { "/rc": "[DebugMode]\ncheck_finite = False\ncheck_strides = 2\n" });
    expect(r.DebugMode.check_finite).toBe(false);
    expect(r.DebugMode.check_strides).toBe(2);
  });

  it("bad values raise ConfigError naming what is allowed", () => {
    expect(() => make("DebugMode.check_strides=3")).toThrow(ConfigError);
    expect(() => make("DebugMode.check_py=maybe")).toThrow(/boolean/);
    expect(() => make("DebugMode.check_preallocated_output=sideways")).toThrow(/initial, previous/);
  });
});
