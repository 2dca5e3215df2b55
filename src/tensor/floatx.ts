/** The current floatX, read at graph-building time (a flag change affects graphs built after it). */
import { config } from "../config/index.js";
import type { FloatDType } from "../ndarray/dtype.js";

export const currentFloatX = (): FloatDType => config.floatX;
