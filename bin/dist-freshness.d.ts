// Types of bin/dist-freshness.js (plain JavaScript: it runs before anything is compiled).
export declare const STAMP_FILE: string;
export declare function sourceSnapshot(root: string): string;
export declare function distFreshness(root: string): { current: boolean; reason: string };
