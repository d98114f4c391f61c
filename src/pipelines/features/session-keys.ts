/**
 * The trading session of each bar: its YYYY-MM-DD label, or any key ordered the same way and
 * equal exactly within a session (the pipeline passes epoch days as a Float64Array).
 */
export type SessionKeys = readonly string[] | ArrayLike<number>;
