/**
 * The two ways TLS material can be wrong, kept apart because they call for different fixes:
 * unsafe files (permissions, owner, symlinks: fix the filesystem, never regenerate over it) and
 * invalid material (expired, wrong profile, wrong CA, mismatched key: re-issue it).
 * @module
 */

/** The material's files are not safe to trust (symlink, foreign owner, loose mode, not a file). */
export class UnsafeTlsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeTlsFileError";
  }
}

/** The material is readable but not acceptable (parse, profile, validity, chain, key). */
export class InvalidTlsMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidTlsMaterialError";
  }
}
