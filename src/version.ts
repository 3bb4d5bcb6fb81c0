import meta from "../deno.json" with { type: "json" };

/** The release version of authcalator. */
export const VERSION: string = meta.version;
