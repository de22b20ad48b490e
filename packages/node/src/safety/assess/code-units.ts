/** Tests on single UTF-16 code units shared by the tier-1 detectors (ASCII only). */

/** a-z. */
export const isLowerUnit = (c: number): boolean => c >= 97 && c <= 122
/** A-Z. */
export const isUpperUnit = (c: number): boolean => c >= 65 && c <= 90
/** A-Z or a-z. */
export const isAsciiLetter = (c: number): boolean => (c | 32) >= 97 && (c | 32) <= 122
/** 0-9. */
export const isDigitUnit = (c: number): boolean => c >= 48 && c <= 57
