/** Host arrays: the NDArray, dtypes and promotion, shape broadcasting. */
export * from "./dtype.js";
export * from "./ndarray.js";
export * from "./broadcast.js";
