/**
 * with-prod's view of `/proc`: the shared seam in src/proc/proc_fs.ts (also used by the gate's
 * kernel peer identity), re-exported here for with-prod's modules.
 * @module
 */
export { type ProcFS, realProcFS } from "../proc/proc_fs.ts";
